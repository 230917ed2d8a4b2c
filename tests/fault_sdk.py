"""Python SDK clients in the fault suite's traffic (tests/test_faults.py), and the checks of the SDK's promises.

The suite's own ``Client`` (tests/faults.py) speaks the protocol raw on
purpose: it records pushes and sync pages apart, checks revs per sync page,
counts the server's duplicates and picks the daphne it reconnects to. The
SDK hides exactly that (it deduplicates, catches up and resends by design),
so it cannot replace that instrument; it runs beside it instead, as an
application would, under every fault the suite injects:

- ``SDK_PAIRS`` extra pairs of users, each user one ``chat_sdk.ChatClient``
  on one daphne (its only base URL: when that daphne is killed, the client
  reconnects with its backoff once it is back), on the Traffic's asyncio loop;
- each user sends to its peer with ``client.send()`` every ``SDK_SEND_INTERVAL``
  seconds or so while the phase sends (the SDK's outbox: one
  ``client_msg_id`` for the message's life, resent after every catch-up until
  ack or error), and consumes ``client.events()``, keeping every
  MessageReceived / MessageChanged by (msg_id, rev) and every Recalled.

``check_sdk`` then demands, per phase, after the suite's own checks settled
the system:

- every send resolved (acked, or failed with a documented error code); none
  still waiting when the phase gave up;
- every acked send stored exactly once (rows by sender and
  ``client_msg_id``), under the ``msg_id`` it was acked with; a failed one at
  most once;
- every stored message of an SDK user surfaced in that user's events (live
  or by its catch-up), no (msg_id, rev) emitted twice;
- each user's latest copy of each message equal to the database's content,
  status and rev;
- every client ``connected`` at the end.
"""

import asyncio
import contextlib
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

from chat_sdk import (
    CaughtUp,
    ChatClient,
    ChatError,
    Event,
    MessageChanged,
    MessageReceived,
    Recalled,
    SendFailed,
    SendQueued,
    StateChanged,
)
from chat_sdk import Message as SdkMessage

from .faults import FaultSystem, Figures, Phase, Traffic, User, wait_until

SDK_PAIRS = 2
# Seconds between two sends of one SDK user: four users, about 2 messages/s in all.
SDK_SEND_INTERVAL = 2.0
# Reconnect delays (the SDK's own are 0.5 s to 20 s): a killed daphne is back within seconds, and the
# phase's settling should not wait for a 20 s backoff step.
MIN_RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 2.0
# The SDK's pings: a socket that stops answering is dropped (and reconnected) within a few seconds.
PING_INTERVAL = 5.0
PONG_TIMEOUT = 10.0
# The codes a send may fail with: the server's (docs/api.md, "Errors") and the SDK's own (chat_sdk.errors).
DOCUMENTED_CODES = frozenset(
    {
        "validation_error",
        "not_authenticated",
        "forbidden",
        "not_found",
        "method_not_allowed",
        "not_acceptable",
        "payload_too_large",
        "unsupported_media_type",
        "rate_limited",
        "unavailable",
        "server_error",
        "network_error",
        "not_connected",
        "closed",
        "cancelled",
    }
)
RECORD_STATUS = {0: "normal", 1: "recalled"}
HTTPX_LOG = logging.getLogger("httpx")


@dataclass
class SdkSend:
    """One ``client.send()``: ``outcome`` pending, acked, failed (``error`` says why) or hung (past give-up)."""

    sender: int
    to: int
    content: str
    client_msg_id: str | None = None
    outcome: str = "pending"
    msg_id: int | None = None
    error: str | None = None
    documented: bool = True
    # What a send that hung came to later (for the report).
    late: str | None = None


class SdkUser:
    """One user's ChatClient and what its events said."""

    def __init__(self, user: User, base_url: str) -> None:
        self.user = user
        self.base_url = base_url
        self.client = ChatClient(
            base_url,
            user.token,
            min_reconnect_delay=MIN_RECONNECT_DELAY,
            max_reconnect_delay=MAX_RECONNECT_DELAY,
            ping_interval=PING_INTERVAL,
            pong_timeout=PONG_TIMEOUT,
        )
        # (msg_id, rev) -> how many MessageReceived / MessageChanged named it (more than 1: a duplicate).
        self.emitted: Counter[tuple[int, int]] = Counter()
        self.emitted_total = 0
        # The copy with the largest rev of each message, from its events alone.
        self.latest: dict[int, SdkMessage] = {}
        self.recalled: Counter[int] = Counter()
        self.duplicates: list[str] = []
        self.states: Counter[str] = Counter()
        self.send_failed: list[SendFailed] = []
        self.errors: list[str] = []
        # The send under way, found by its content when the outbox queues it (SendQueued names its client_msg_id).
        self.sending: dict[str, SdkSend] = {}
        self.client.on(SendQueued.kind, self._queued)
        self.consumer = asyncio.create_task(self._consume(), name=f"sdk-events-{user.id}")

    def _queued(self, event: SendQueued) -> None:
        record = self.sending.get(event.entry.content)
        if record is not None:
            record.client_msg_id = event.entry.client_msg_id

    async def _consume(self) -> None:
        async for event in self.client.events():
            self._take(event)

    def _take(self, event: Event) -> None:
        if isinstance(event, MessageReceived | MessageChanged):
            message = event.message
            key = (message.msg_id, message.rev)
            self.emitted[key] += 1
            self.emitted_total += 1
            if self.emitted[key] == 2:
                self.duplicates.append(f"user {self.user.id}: msg {message.msg_id} rev {message.rev} emitted twice")
            held = self.latest.get(message.msg_id)
            if held is None or message.rev > held.rev:
                self.latest[message.msg_id] = message
        elif isinstance(event, Recalled):
            self.recalled[event.msg_id] += 1
            if self.recalled[event.msg_id] == 2:
                self.duplicates.append(f"user {self.user.id}: Recalled of msg {event.msg_id} emitted twice")
        elif isinstance(event, StateChanged):
            self.states[event.state] += 1
        elif isinstance(event, CaughtUp):
            # After every connect and every resync frame.
            self.states["caught_up"] += 1
        elif isinstance(event, SendFailed):
            self.send_failed.append(event)
        elif event.kind == "error":
            self.errors.append(str(getattr(event, "error", event)))


class SdkTraffic:
    """The SDK users and their senders, on the Traffic's loop; ``records`` per phase name."""

    def __init__(self, traffic: Traffic, users: list[User], interval: float = SDK_SEND_INTERVAL) -> None:
        self.traffic = traffic
        self.interval = interval
        self.records: dict[str, list[SdkSend]] = {}
        self.tasks: list[asyncio.Task] = []
        # Per phase name, per user: its events, duplicates and states counted when the phase began.
        self._marks: dict[str, dict[int, tuple[int, int, Counter]]] = {}

        async def open_all() -> list[SdkUser]:
            opened = []
            for index, user in enumerate(users):
                port = traffic.ports[index % len(traffic.ports)]
                participant = SdkUser(user, f"http://127.0.0.1:{port}")
                await participant.client.connect()
                opened.append(participant)
            return opened

        self.users: list[SdkUser] = traffic.call(open_all(), 30)
        self.by_id = {u.user.id: u for u in self.users}

        async def ready_all() -> None:
            await asyncio.gather(*(u.client.ready(60) for u in self.users))

        traffic.call(ready_all(), 70)
        # httpx logs every request of the SDK at INFO: hundreds of lines in a failed test's report, none of them
        # the failure. Quiet while these clients run, once they are up (close() restores it).
        self._httpx_level = HTTPX_LOG.level
        HTTPX_LOG.setLevel(logging.WARNING)

    def start_senders(self) -> None:
        """Each user of a pair sends to the other."""

        async def start() -> None:
            for i in range(0, len(self.users) - 1, 2):
                a, b = self.users[i], self.users[i + 1]
                self.tasks.append(asyncio.create_task(self._sender(a, b)))
                self.tasks.append(asyncio.create_task(self._sender(b, a)))

        self.traffic.call(start())

    def begin(self, phase: Phase) -> None:
        """Where the phase's figures start: the events so far, the duplicates noted so far."""

        async def mark() -> dict[int, tuple[int, int, Counter]]:
            return {u.user.id: (u.emitted_total, len(u.duplicates), Counter(u.states)) for u in self.users}

        self._marks[phase.name] = self.traffic.call(mark())

    def close(self) -> None:
        """Stop the senders and close every client (its events() ends after ``disconnected``)."""

        async def close_all() -> None:
            for task in self.tasks:
                task.cancel()
            for participant in self.users:
                await participant.client.aclose()
            await asyncio.wait([u.consumer for u in self.users], timeout=5)

        with contextlib.suppress(Exception):
            self.traffic.call(close_all(), 30)
        HTTPX_LOG.setLevel(self._httpx_level)

    async def _sender(self, sender: SdkUser, to: SdkUser) -> None:
        sequence = 0
        while not self.traffic.stopped:
            phase = self.traffic.phase
            if phase is None or not phase.sending:
                await asyncio.sleep(0.1)
                continue
            sequence += 1
            record = SdkSend(sender.user.id, to.user.id, f"{phase.name}-sdk-{sender.user.id}-{sequence} 🐍 via the SDK")
            self.records.setdefault(phase.name, []).append(record)
            key = ("sdk-send", sender.user.id)
            self.traffic.busy.add(key)
            try:
                await self._send(sender, record, phase)
            finally:
                self.traffic.busy.discard(key)
            await asyncio.sleep(self.interval * random.uniform(0.7, 1.3))

    async def _send(self, sender: SdkUser, record: SdkSend, phase: Phase) -> None:
        """``client.send()``, awaited until it resolves or the phase gives up (then it counts as hung)."""
        sender.sending[record.content] = record
        task = asyncio.ensure_future(sender.client.send(record.to, record.content))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if not task.done() and (self.traffic.loop.time() > phase.give_up_at or self.traffic.stopped):
                    record.outcome = "hung"
                    entry = next((e for e in sender.client.outbox if e.content == record.content), None)
                    record.error = (
                        f"send() neither acked nor failed by the phase's give-up time; client {sender.client.state},"
                        f" {'still in' if entry else 'not in'} its outbox"
                    )
                    task.add_done_callback(lambda t, r=record: _note_late(t, r))
                    return
        finally:
            sender.sending.pop(record.content, None)
        _resolve(task, record)


def _resolve(task: asyncio.Future, record: SdkSend) -> None:
    error = task.exception()
    if error is None:
        message = task.result()
        record.outcome, record.msg_id = "acked", message.msg_id
        if record.client_msg_id is None:
            record.client_msg_id = message.client_msg_id
        elif message.client_msg_id != record.client_msg_id:
            record.error = f"acked with client_msg_id {message.client_msg_id}, queued as {record.client_msg_id}"
    elif isinstance(error, ChatError):
        record.outcome, record.error = "failed", f"{error.code}: {error.detail}"
        record.documented = error.code in DOCUMENTED_CODES
    else:
        record.outcome, record.error, record.documented = "failed", f"not a ChatError: {error!r}", False


def _note_late(task: asyncio.Future, record: SdkSend) -> None:
    if task.cancelled():
        record.late = "cancelled"
    elif task.exception() is not None:
        record.late = f"failed later: {task.exception()!r}"
    else:
        record.late = f"acked later as msg {task.result().msg_id}"


# --- the checks ------------------------------------------------------------------------------


@dataclass
class SdkFigures(Figures):
    """The suite's figures, then the SDK's: sends, acks, failures (documented), events, duplicates, misses."""

    sdk_sent: int = 0
    sdk_acked: int = 0
    sdk_failed: int = 0
    sdk_emit: int = 0
    # Times a client became connected again (a new socket, caught up), and catch-ups (those and resyncs).
    sdk_reconn: int = 0
    sdk_catchup: int = 0
    sdk_dup: int = 0
    # Stored messages that never surfaced in a user's events, or whose rows are not one per acked send.
    sdk_missed: int = 0
    # Sends hung or failed without a documented error, copies unlike the database, clients not connected.
    sdk_diffs: int = 0
    sdk_problems: list[str] = field(default_factory=list)

    SDK_COLUMNS = (
        "sdk_sent",
        "sdk_acked",
        "sdk_failed",
        "sdk_emit",
        "sdk_reconn",
        "sdk_catchup",
        "sdk_dup",
        "sdk_missed",
        "sdk_diffs",
    )
    COLUMNS = Figures.COLUMNS + SDK_COLUMNS


def check_sdk(
    system: FaultSystem, sdk: SdkTraffic, phase: Phase, figures: SdkFigures, settle_timeout: float = 40
) -> None:
    """After check_phase (the phase's sends stopped, the system settled): the SDK's promises, into ``figures``."""
    records = sdk.records.get(phase.name, [])
    figures.sdk_sent = len(records)
    figures.sdk_acked = sum(r.outcome == "acked" for r in records)
    figures.sdk_failed = sum(r.outcome == "failed" for r in records)
    problems = figures.sdk_problems
    for record in records:
        if record.outcome == "hung" or not record.documented or (record.outcome == "acked" and record.error):
            figures.sdk_diffs += 1
            problems.append(f"send {record.client_msg_id} ({record.content!r}): {record.outcome}, {record.error}")
    failures = Counter((r.error or "").split(":")[0] for r in records if r.outcome == "failed")
    if failures:
        problems.append(f"SDK sends failed (documented errors): {dict(failures)}")

    # Every acked send stored once, under its msg_id; a failed or hung one at most once.
    stored: dict[tuple[int, str], list[int]] = {}
    for uid in sdk.by_id:
        for client_msg_id, msg_id in system.mariadb.query(
            "SELECT client_msg_id, msgId FROM t_msg_record_list WHERE sender_id = %s", [uid]
        ):
            stored.setdefault((uid, client_msg_id), []).append(msg_id)
    for record in records:
        rows = stored.get((record.sender, record.client_msg_id or ""), [])
        if record.outcome == "acked" and rows != [record.msg_id]:
            figures.sdk_missed += 1
            problems.append(f"acked as msg {record.msg_id}, stored as {rows}: {record.sender}/{record.client_msg_id}")
        elif record.outcome != "acked" and len(rows) > 1:
            figures.sdk_missed += 1
            problems.append(f"{record.outcome}, yet stored {len(rows)} times as {rows}: {record.client_msg_id}")

    def database() -> dict[int, tuple]:
        """Every message an SDK user sends or receives: msg_id -> (msg_id, sender, recipient, content, status, rev)."""
        rows = {}
        for uid in sdk.by_id:
            for row in system.mariadb.query(
                "SELECT msgId, sender_id, recipient_id, content, recordStatus, rev FROM t_msg_record_list"
                " WHERE sender_id = %s OR recipient_id = %s",
                [uid, uid],
            ):
                rows[row[0]] = row
        return rows

    def differences() -> tuple[list[str], list[str]]:
        """(stored messages a user's events never named, copies unlike the database and clients not connected)."""
        rows = database()

        async def compare() -> tuple[list[str], list[str]]:
            missing, diffs = [], []
            for msg_id, sender, recipient, content, status, rev in rows.values():
                for uid in (sender, recipient):
                    participant = sdk.by_id.get(uid)
                    if participant is None:
                        continue
                    copy = participant.latest.get(msg_id)
                    if copy is None:
                        missing.append(f"user {uid}: stored msg {msg_id} ({content!r}) never surfaced in its events")
                        continue
                    want = (content if status == 0 else "", RECORD_STATUS.get(status, str(status)), rev)
                    held = (copy.content, copy.status, copy.rev)
                    if held != want:
                        diffs.append(f"user {uid}: msg {msg_id} held as {held}, the database has {want}")
            for participant in sdk.users:
                if participant.client.state != "connected":
                    diffs.append(
                        f"user {participant.user.id} ({participant.base_url}): client {participant.client.state},"
                        f" outbox {len(participant.client.outbox)}, reconnect attempt {participant.client.attempt}"
                    )
            return missing, diffs

        return sdk.traffic.call(compare())

    # The catch-up after a reconnect may still run: wait for it (a miss that stays is a loss).
    with contextlib.suppress(RuntimeError):
        wait_until(lambda: differences() == ([], []), settle_timeout, "SDK clients caught up", interval=0.5)
    missing, diffs = differences()
    figures.sdk_missed += len(missing)
    figures.sdk_diffs += len(diffs)
    problems += missing[:10] + diffs[:10]

    async def since_begin() -> tuple[int, list[str], Counter, list[str]]:
        """The phase's events, duplicates and states (from ``begin``); the error events, taken."""
        marks = sdk._marks.get(phase.name, {})
        emitted, duplicates, states, errors = 0, [], Counter(), []
        for u in sdk.users:
            emitted_before, duplicates_before, states_before = marks.get(u.user.id, (0, 0, Counter()))
            emitted += u.emitted_total - emitted_before
            duplicates += u.duplicates[duplicates_before:]
            states += u.states - states_before
            errors += [f"user {u.user.id}: {e}" for e in u.errors]
            u.errors.clear()
        return emitted, duplicates, states, errors

    emitted, duplicates, states, errors = sdk.traffic.call(since_begin())
    figures.sdk_emit = emitted
    figures.sdk_dup = len(duplicates)
    problems += duplicates[:10]
    figures.sdk_reconn = states["connected"]
    figures.sdk_catchup = states["caught_up"]
    if errors:
        problems.append(f"SDK error events (catch-ups that failed, error frames): {len(errors)}, {errors[:3]}")
