"""The fault suite: the whole system as real processes, faults injected under traffic.

The module starts a Redis and a MariaDB of its own on spare loopback ports,
two daphnes and a Celery worker per queue (tests/faults.py), registers six
pairs of users (each with a reconnecting WebSocket client that syncs after
every reconnect and ``resync``) and keeps them sending to each other, over
the socket and over REST, re-sending with the same ``client_msg_id`` until
acked, every sixth send with an uploaded image or file, while each user
edits its messages, reacts to those it received and now and then recalls one
(tests/fault_load.py). Each test injects one fault with a few seconds of
traffic before and after it, lets the system settle, and checks every acked
message: stored exactly once, received by its recipient (push or sync)
exactly once, the sockets still answering, every conversation list and
unread count equal to a recount from the database, each client's chain of
``sync`` calls covering every stored message (gap-free), and its final state
(every answered edit and reaction, its one attachment, downloadable by the
peer) the same in a fresh GET and in both users' copies, with no ``rev``
going back. The figures of every fault are printed as a table at the end of
the module.

Two kinds of client take part. Those above speak the protocol raw, on
purpose: they are the suite's instrument. They record pushes and sync pages
apart, check the revs of every sync page, count the server's duplicates and
choose which daphne to reconnect to; an SDK deduplicates, catches up and
resends by design, and would hide exactly the server defects they count.
Beside them, two more pairs of users are Python SDK clients
(``chat_sdk.ChatClient``, tests/fault_sdk.py), each on one daphne, sending
with ``client.send()`` and following ``client.events()``, so the SDK meets
every fault too; each test then checks its promises (``check_sdk``): every
send acked (stored exactly once) or failed with a documented error, never
left waiting; every stored message of theirs surfaced in their events, once
per (msg_id, rev); each latest copy equal to the database; every client
``connected`` again. Their figures are the table's ``sdk_*`` columns.

Logs of every process are in ``.pytest-faults/`` (kept when a test fails, or
with CHAT_FAULTS_KEEP_LOGS=1).
"""

import asyncio
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass

import pytest

from .fault_sdk import SDK_PAIRS, SdkFigures, SdkTraffic, check_sdk
from .faults import FaultSystem, Phase, SendRecord, Traffic, User, check_phase, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]

PAIRS = 6
# Seconds between two sends of one sender: 12 senders, about 8 messages/s in all.
SEND_INTERVAL = 1.5
BEFORE = AFTER = 3.0
FLOOD_SENDERS = 4
FLOOD_PER_SENDER = 520
FLOOD_WINDOW = 25


@dataclass
class World:
    system: FaultSystem
    traffic: Traffic
    users: list[User]
    slow: User
    flooders: list[User]
    sdk: SdkTraffic
    report: list[SdkFigures]


@pytest.fixture(scope="module")
def world(request):
    system = FaultSystem()
    traffic = None
    sdk = None
    report: list[SdkFigures] = []
    failed_before = request.session.testsfailed
    try:
        system.start()
        traffic = Traffic(system, SEND_INTERVAL)
        users = [traffic.register(f"pair{i}") for i in range(2 * PAIRS)]
        slow = traffic.register("slow")
        flooders = [traffic.register(f"flood{i}") for i in range(FLOOD_SENDERS)]
        traffic.open_clients([*users, slow, *flooders])
        senders = []
        for i in range(PAIRS):
            a, b = users[2 * i], users[2 * i + 1]
            senders.append((a, b, "ws"))
            senders.append((b, a, "rest" if i < PAIRS // 2 else "ws"))
        traffic.start_senders(senders)
        sdk = SdkTraffic(traffic, [traffic.register(f"sdk{i}") for i in range(2 * SDK_PAIRS)])
        sdk.start_senders()
        yield World(system, traffic, users, slow, flooders, sdk, report)
    finally:
        if sdk is not None:
            sdk.close()
        if traffic is not None:
            traffic.close()
        system.stop()
        if report:
            _print_report(request, report)
        if request.session.testsfailed == failed_before and not os.environ.get("CHAT_FAULTS_KEEP_LOGS"):
            shutil.rmtree(system.log_dir, ignore_errors=True)


def _print_report(request, report: list[SdkFigures]) -> None:
    """The table on the terminal, past pytest's output capture."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line("fault suite: messages per fault (lost and duplicated must be 0; sdk_*: the SDK clients)")
        reporter.write_line(SdkFigures.header())
        for figures in report:
            reporter.write_line(figures.row())


def run_fault(world: World, name: str, fault) -> SdkFigures:
    """Traffic before, the fault, traffic after; then settle and check (the raw clients, then the SDK's)."""
    phase = world.traffic.begin(name)
    world.sdk.begin(phase)
    time.sleep(BEFORE)
    fault(phase)
    time.sleep(AFTER)
    figures = SdkFigures(**vars(check_phase(world.system, world.traffic, phase)))
    check_sdk(world.system, world.sdk, phase, figures)
    world.report.append(figures)
    print(SdkFigures.header())
    print(figures.row())
    for problem in figures.problems + figures.sdk_problems:
        print("  ", problem)
    return figures


def assert_clean(figures: SdkFigures) -> None:
    summary = f"{figures.row()}\n" + "\n".join(figures.problems[:30])
    assert figures.sent > 0 and figures.acked == figures.sent, summary
    assert figures.lost == 0, summary
    assert figures.duplicated == 0, summary
    assert figures.sync_gaps == 0, summary
    assert figures.count_mismatches == 0, summary
    assert figures.dead_sockets == 0, summary
    assert figures.edits > 0 and figures.reactions > 0, summary
    assert figures.chg_lost == 0, summary
    assert figures.state_diffs == 0, summary
    assert figures.rev_back == 0, summary
    assert figures.sync_only == 0, summary
    assert_sdk_clean(figures)


def assert_sdk_clean(figures: SdkFigures) -> None:
    """The SDK's promises (tests/fault_sdk.py): each send resolved, stored once, surfaced once, the copy current."""
    summary = f"{SdkFigures.header()}\n{figures.row()}\n" + "\n".join(figures.sdk_problems[:30])
    assert figures.sdk_acked > 0, summary
    assert figures.sdk_acked + figures.sdk_failed == figures.sdk_sent, summary
    assert figures.sdk_missed == 0, summary
    assert figures.sdk_dup == 0, summary
    assert figures.sdk_diffs == 0, summary


def test_realtime_worker_killed(world):
    """kill -9 of the realtime worker three times (the second time only its pool child), restarted each time."""
    worker = world.system.workers["realtime"]

    def fault(phase: Phase) -> None:
        for round_ in range(3):
            time.sleep(1.5)
            if round_ == 1:
                # Only the pool child: the worker's main process sees it lost and rejects the task back.
                children = worker.children()
                assert children, "the realtime worker has no pool child"
                os.kill(children[0], signal.SIGKILL)
                wait_until(lambda c=children: worker.children() and worker.children() != c, 30, "a new pool child")
            else:
                worker.kill()
                if round_ == 0:
                    # Down for longer than the stale age: the sweeper re-drives what was not fanned out.
                    time.sleep(3)
                world.system.restart(worker)

    assert_clean(run_fault(world, "worker-kill", fault))


def test_redis_flushed_then_restarted(world):
    redis_server = world.system.redis

    def fault(phase: Phase) -> None:
        redis_server.client().flushall()
        time.sleep(4)
        redis_server.kill()
        time.sleep(1)
        redis_server.start()

    assert_clean(run_fault(world, "redis-flush-restart", fault))


def test_daphne_killed(world):
    """Its clients reconnect to the other daphne and sync; a process manager restarts it."""
    server = world.system.daphnes[1]

    def fault(phase: Phase) -> None:
        server.kill()
        time.sleep(3)
        server.start()

    assert_clean(run_fault(world, "daphne-kill", fault))


def test_database_unresponsive_then_killed(world):
    """mariadbd stopped (SIGSTOP) for 5 s; later kill -9 and a restart on the same data directory."""
    database = world.system.mariadb

    def fault(phase: Phase) -> None:
        database.signal(signal.SIGSTOP)
        try:
            time.sleep(5)
        finally:
            database.signal(signal.SIGCONT)
        time.sleep(3)
        database.kill()
        time.sleep(1)
        database.start()

    assert_clean(run_fault(world, "mariadb-stop-kill", fault))


def test_commit_stalled_past_the_accept_deadline(world):
    """A table lock holds the message table longer than CHAT_ACCEPT_DEADLINE_SECONDS (2 s), twice.

    Meanwhile four clients poll sync every half second along next_since: a
    cursor that passed a message still committing would leave a gap that the
    final check finds.
    """
    traffic = world.traffic
    pollers = [traffic.clients[u.id] for u in world.users[:4]]

    async def poll(stop: asyncio.Event) -> None:
        while not stop.is_set():
            for client in pollers:
                client.request_sync()
            await asyncio.sleep(0.5)

    def fault(phase: Phase) -> None:
        stop = traffic.call(_make_event())
        polling = asyncio.run_coroutine_threadsafe(poll(stop), traffic.loop)
        try:
            for _ in range(2):
                conn = world.system.mariadb.connect()
                try:
                    cursor = conn.cursor()
                    cursor.execute("LOCK TABLES t_msg_record_list READ")
                    time.sleep(4)
                    cursor.execute("UNLOCK TABLES")
                finally:
                    conn.close()
                time.sleep(2)
        finally:
            traffic.loop.call_soon_threadsafe(stop.set)
            polling.result(10)

    assert_clean(run_fault(world, "commit-stall", fault))


async def _make_event() -> asyncio.Event:
    return asyncio.Event()


def test_concurrent_duplicate_sends(world):
    """The same client_msg_id on two sockets (on two daphnes) and over REST at once: one message."""
    traffic = world.traffic
    sender, recipient = world.users[0], world.users[1]
    main = traffic.clients[sender.id]
    second = traffic.open_extra(sender, home=1 - main.home)

    async def triple(record: SendRecord, phase: Phase) -> None:
        while True:
            answers = await asyncio.gather(
                main.send_ws(record.to, record.content, record.client_msg_id),
                second.send_ws(record.to, record.content, record.client_msg_id),
                main.send_rest(record.to, record.content, record.client_msg_id),
            )
            acks = [record.take(answer) for answer in answers]
            if all(acks) or traffic.loop.time() > phase.give_up_at:
                return
            await asyncio.sleep(0.5)

    def fault(phase: Phase) -> None:
        for k in range(15):
            client_msg_id = f"{phase.name}-dup-{k}"
            record = SendRecord(sender.id, recipient.id, client_msg_id, f"{client_msg_id} twice", "ws+ws+rest")
            phase.records.append(record)
            traffic.call(triple(record, phase), 60)

    assert_clean(run_fault(world, "duplicate-sends", fault))


def test_slow_client_flooded(world):
    """A socket that reads nothing while 2,000+ messages are sent to it; then it reads, reconnects and syncs."""
    traffic = world.traffic
    slow = traffic.clients[world.slow.id]

    async def flood(phase: Phase) -> None:
        window = asyncio.Semaphore(FLOOD_WINDOW * FLOOD_SENDERS)

        async def one(user: User, n: int) -> None:
            client = traffic.clients[user.id]
            record = SendRecord(user.id, world.slow.id, f"{phase.name}-{user.id}-f{n}", f"flood {n} 🌊", "ws")
            phase.records.append(record)
            async with window:
                await traffic.deliver(record, traffic.send_function(client, record), phase)

        await asyncio.gather(*(one(u, n) for n in range(FLOOD_PER_SENDER) for u in world.flooders))

    def fault(phase: Phase) -> None:
        traffic.loop.call_soon_threadsafe(slow.reading.clear)
        traffic.call(flood(phase), 240)
        # 2,000+ messages: a minute on a quiet machine, longer on a busy one.
        wait_until(lambda: world.system.unfinished_fan_out() == 0, 300, "fan-out of the flood done")
        # It reads what was queued for it, then reconnects (and syncs).
        traffic.loop.call_soon_threadsafe(slow.reading.set)
        time.sleep(2)
        traffic.call(slow.reconnect(), 30)

    figures = run_fault(world, "slow-client-flood", fault)
    # channels-redis logs each group_send it dropped for a full channel (at INFO, in the worker).
    print("group_send over capacity:", world.system.workers["realtime"].log_since_start().count("over capacity"))
    flood_ids = {r.msg_id for r in traffic.phase.records if r.to == world.slow.id}
    print(
        f"the slow client got {len(flood_ids & slow.pushed)} of {len(flood_ids)} flood messages pushed,"
        " the rest by sync"
    )
    assert figures.sent >= FLOOD_SENDERS * FLOOD_PER_SENDER
    assert_clean(figures)
