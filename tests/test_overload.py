"""Overload without collapse: what the send path cannot take now is refused at once, never queued
without bound, and what it took is stored once (messaging/admission.py, messaging/committer.py).

Each bound is forced here on a real daphne, a real Celery worker and MariaDB: a flood of frames outruns
the consumer, a table lock stalls the committer, a queue without a worker stands for a fan-out that is
behind. The whole system under three
times its capacity is `make bench`'s overload phase (docs/benchmarks.md).
"""

import contextlib
import threading
import time
import urllib.request

import MySQLdb
import pytest

from messaging import admission, sending
from messaging.inputs import Send
from messaging.models import MessageRecord
from profiles import store as profile_store

from .conftest import wait_for


@contextlib.contextmanager
def table_locked(settings, lock: str):
    """Another session holds ``LOCK TABLES <lock>`` until the block ends."""
    db = settings.DATABASES["default"]
    blocker = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"], db=db["NAME"]
    )
    try:
        blocker.cursor().execute(f"LOCK TABLES {lock}")
        yield
    finally:
        blocker.cursor().execute("UNLOCK TABLES")
        blocker.close()


def stalled_committer(settings):
    """Every commit of a send waits until the block ends: another session holds the message table."""
    return table_locked(settings, "t_msg_record_list READ")


def send_frame(to, client_msg_id: str) -> dict:
    return {"type": "send", "to": to.id, "content": client_msg_id, "client_msg_id": client_msg_id}


def stored(client_msg_id: str) -> int:
    return MessageRecord.objects.filter(client_msg_id=client_msg_id).count()


def test_sends_in_flight_on_one_socket_are_acked_and_stored_in_the_order_sent(connect, alice, bob):
    sock = connect(alice)
    sock.expect("ready")
    ids = [f"burst-{i}" for i in range(30)]
    for client_msg_id in ids:
        sock.send(send_frame(bob, client_msg_id))
    acks = {cid: sock.expect("ack", client_msg_id=cid)["message"]["msg_id"] for cid in ids}
    assert [acks[cid] for cid in ids] == sorted(acks.values())
    history = bob.get(f"conversations/{alice.get('conversations').json()['results'][0]['conversation_id']}/messages")
    assert [m["client_msg_id"] for m in history.json()["results"]] == ids


@pytest.mark.timeout(60)
def test_a_socket_over_its_sends_in_flight_is_told_at_once_and_its_retries_are_stored_once(
    start_daphne, connect, alice, bob, settings
):
    server = start_daphne(CHAT_SOCKET_SENDS_IN_FLIGHT="3", CHAT_ACCEPT_DEADLINE_SECONDS="30")
    sock = connect(alice, server=server)
    sock.expect("ready")
    with stalled_committer(settings):
        for i in range(5):
            sock.send(send_frame(bob, f"window-{i}"))
        started = time.monotonic()
        refused = [sock.expect("error", client_msg_id=f"window-{i}", timeout=5) for i in (3, 4)]
        assert time.monotonic() - started < 3, "refused only after waiting"
        assert {r["code"] for r in refused} == {"rate_limited"}
        assert {r["retry_after"] for r in refused} == {1}
        assert not any(f["type"] == "ack" for f in sock.drain(0.3))
    for i in range(3):
        sock.expect("ack", client_msg_id=f"window-{i}", timeout=20)
    for i in (3, 4):
        sock.send(send_frame(bob, f"window-{i}"))
        sock.expect("ack", client_msg_id=f"window-{i}")
    assert [stored(f"window-{i}") for i in range(5)] == [1] * 5


@pytest.mark.timeout(60)
def test_send_frames_that_waited_in_daphnes_queue_are_refused_at_once_and_the_next_send_is_acked(
    start_daphne, connect, alice, bob
):
    """A flood read faster than the consumer takes it (one frame per two turns of the loop): frames that
    waited past the bound are refused, each send gets exactly one answer, only acked ones are stored,
    and once the queue is empty a send is acked again."""
    # Bounds low enough that the flood stands on a fast machine too: with 20 and 100 ms, a
    # machine that read and took 1,000 frames within about 120 ms refused none (2026-12-07).
    server = start_daphne(
        CHAT_FRAME_WAIT_MAX_MS="5", CHAT_FRAME_WAIT_INTERVAL_MS="20", CHAT_SOCKET_SENDS_IN_FLIGHT="3000"
    )
    sock = connect(alice, server=server)
    sock.expect("ready")
    ids = [f"flood-{i}" for i in range(2000)]
    for client_msg_id in ids:
        sock.send(send_frame(bob, client_msg_id))
    answers: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while len(answers) < len(ids) and time.monotonic() < deadline:
        for frame in sock.drain(0.2):
            if frame["type"] in ("ack", "error"):
                assert frame["client_msg_id"] not in answers, f"answered twice: {frame}"
                answers[frame["client_msg_id"]] = frame
    assert len(answers) == len(ids)
    refused = [cid for cid, frame in answers.items() if frame["type"] == "error"]
    acked = [cid for cid, frame in answers.items() if frame["type"] == "ack"]
    assert refused
    assert {(answers[cid]["code"], answers[cid]["retry_after"]) for cid in refused} == {("unavailable", 1)}
    flood = MessageRecord.objects.filter(client_msg_id__startswith="flood-")
    assert sorted(flood.values_list("client_msg_id", flat=True)) == sorted(acked)
    sock.send(send_frame(bob, "after-the-flood"))
    sock.expect("ack", client_msg_id="after-the-flood")
    assert stored("after-the-flood") == 1


@pytest.mark.timeout(60)
def test_a_send_behind_its_own_sockets_slow_read_is_not_taken_for_overload(start_daphne, connect, alice, bob, settings):
    """The frame wait counts the time spent waiting for the event loop, not for the socket's own earlier frames:
    a send queued behind a `read` that waits for a lock is acked."""
    server = start_daphne(CHAT_FRAME_WAIT_MAX_MS="50")
    message = alice.send(bob, "read me")
    sock = connect(bob, server=server)
    sock.expect("ready")
    with stalled_committer(settings):  # the read's update waits for the lock
        sock.send({"type": "read", "conversation_id": message["conversation_id"], "up_to": message["msg_id"]})
        sock.send(send_frame(alice, "behind-the-read"))
        time.sleep(0.5)
    sock.expect("ack", client_msg_id="behind-the-read")
    assert stored("behind-the-read") == 1


@pytest.mark.timeout(60)
def test_a_stalled_committer_refuses_new_sends_at_once_on_the_socket(start_daphne, connect, alice, bob, settings):
    server = start_daphne(CHAT_ACCEPT_QUEUE_MAX_MS="300", CHAT_ACCEPT_DEADLINE_SECONDS="30")
    sock = connect(alice, server=server)
    sock.expect("ready")
    with stalled_committer(settings):
        sock.send(send_frame(bob, "held-1"))  # taken into a batch that waits for the lock
        time.sleep(0.3)
        sock.send(send_frame(bob, "held-2"))  # queued behind it
        time.sleep(0.5)
        sock.send(send_frame(bob, "refused-3"))
        refused = sock.expect("error", client_msg_id="refused-3", timeout=2)
        assert refused["code"] == "unavailable" and refused["retry_after"] == 1
    sock.expect("ack", client_msg_id="held-1", timeout=20)
    sock.expect("ack", client_msg_id="held-2", timeout=20)
    assert stored("refused-3") == 0
    sock.send(send_frame(bob, "refused-3"))
    sock.expect("ack", client_msg_id="refused-3")
    assert stored("refused-3") == 1


@pytest.mark.timeout(60)
def test_a_stalled_committer_refuses_a_rest_send_with_503_and_retry_after(alice, bob, settings):
    settings.CHAT_ACCEPT_QUEUE_MAX_MS = 300
    settings.CHAT_ACCEPT_DEADLINE_SECONDS = 30
    outcomes: list = []

    def send(client_msg_id: str) -> None:
        outcomes.append(sending.send_message(alice.id, Send(bob.id, client_msg_id, client_msg_id)))

    with stalled_committer(settings):
        first = threading.Thread(target=send, args=("held-1",))
        first.start()
        time.sleep(0.3)
        second = threading.Thread(target=send, args=("held-2",))
        second.start()
        time.sleep(0.5)
        response = alice.post("messages", {"to": bob.id, "content": "refused", "client_msg_id": "refused-3"})
        assert response.status_code == 503
        assert response["Retry-After"] == "1"
        assert response.json()["code"] == "unavailable"
    first.join(20)
    second.join(20)
    assert sorted(r.message["client_msg_id"] for r in outcomes) == ["held-1", "held-2"]
    assert stored("refused-3") == 0
    assert alice.post("messages", {"to": bob.id, "content": "refused", "client_msg_id": "refused-3"}).status_code == 201


@pytest.mark.timeout(90)
def test_sends_are_refused_while_the_realtime_queue_is_over_its_bound_and_admitted_once_workers_drain_it(
    start_daphne, connect, alice, bob
):
    from celery.contrib.testing.worker import start_worker

    from chat_project.celery import app

    server = start_daphne(CHAT_FAN_OUT_LAG_MAX_MS="300", CHAT_FAN_OUT_QUEUE_MAX="1", CHAT_ADMISSION_POLL_MS="50")
    sock = connect(alice, server=server)
    sock.expect("ready")
    for i in range(2):  # no worker runs: the fan-out tasks wait in the realtime queue
        sock.send(send_frame(bob, f"queued-{i}"))
        sock.expect("ack", client_msg_id=f"queued-{i}")
        time.sleep(0.2)  # each in a task of its own
    attempts = iter(range(1000))
    error = wait_for(lambda: _try_send(sock, bob, f"probe-{next(attempts)}"), timeout=10)
    assert error["code"] == "unavailable" and error["retry_after"] == 1
    assert stored(error["client_msg_id"]) == 0
    app.loader.import_default_modules()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["realtime"], shutdown_timeout=30):
        ack = wait_for(lambda: _try_send(sock, bob, "after", want="ack"), timeout=20)
    assert ack["message"]["content"] == "after"
    assert stored("after") == 1


def _try_send(sock, to, client_msg_id: str, want: str = "error") -> dict | None:
    """Send once; the answer when it is of the wanted kind (``ack`` or ``error``), else None."""
    sock.send(send_frame(to, client_msg_id))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for frame in sock.drain(0.1):
            if frame.get("client_msg_id") == client_msg_id and frame["type"] in ("ack", "error"):
                return frame if frame["type"] == want else None
    raise AssertionError(f"no answer to {client_msg_id}")


@pytest.mark.timeout(60)
def test_sends_are_refused_while_the_workers_report_a_lag_and_admitted_when_it_ends(
    start_daphne, connect, alice, bob, settings
):
    settings.CHAT_FAN_OUT_LAG_MAX_MS = 300
    server = start_daphne(CHAT_FAN_OUT_LAG_MAX_MS="300", CHAT_ADMISSION_POLL_MS="50")
    sock = connect(alice, server=server)
    sock.expect("ready")
    assert _try_send(sock, bob, "before", want="ack") is not None
    old = MessageRecord.objects.get(client_msg_id="before").msg_id
    time.sleep(0.5)
    admission.report_fan_out_lag([old])  # a worker starting a batch accepted half a second ago
    lag_ms = int(admission.get_redis().get(admission.lag_key()))
    assert 500 <= lag_ms < 5000
    assert 0 < admission.get_redis().pttl(admission.lag_key()) <= 150
    admission.get_redis().set(admission.lag_key(), lag_ms, px=3000)  # as if it stayed behind for a while
    error = wait_for(lambda: _try_send(sock, bob, "during"), timeout=5)
    assert error["code"] == "unavailable" and error["retry_after"] == 1
    ack = wait_for(lambda: _try_send(sock, bob, "during", want="ack"), timeout=10)
    assert ack["message"]["content"] == "during"
    assert stored("during") == 1


def test_a_fresh_batch_reports_no_lag(alice, bob, settings):
    settings.CHAT_FAN_OUT_LAG_MAX_MS = 300
    fresh = alice.send(bob, "fresh")
    admission.report_fan_out_lag([fresh["msg_id"]])
    assert admission.get_redis().get(admission.lag_key()) is None


@pytest.mark.timeout(60)
def test_a_socket_arriving_while_its_process_is_behind_opening_others_is_closed_with_1013_at_once(
    start_daphne, connect, alice, bob, carol, settings
):
    """The first socket's authentication waits for the token table: one arriving after the bound is closed
    with 1013 at once, with no database read; once the first is open, sockets open again."""
    server = start_daphne(CHAT_CONNECT_WAIT_MAX_MS="300")
    opened = []
    profile_store.forget_tokens([alice.token])  # its socket reads the table, whatever ran before
    with table_locked(settings, "authtoken_token WRITE"):
        first = threading.Thread(target=lambda: opened.append(connect(alice, server=server)))
        first.start()
        time.sleep(1)  # the first socket has waited past the bound, and still waits
        started = time.monotonic()
        refused = connect(bob, server=server)
        assert refused.close_code() == 1013
        assert time.monotonic() - started < 1  # at once, with the table still locked
        # And the process stopped accepting (chat_project/accept_pause.py): a request waits in the kernel's
        # queue instead of being read, for at most CHAT_CONNECT_PAUSE_MAX_MS (1 s) while the first still waits.
        started = time.monotonic()
        with urllib.request.urlopen(f"http://{server.address}/healthz", timeout=5) as response:
            assert response.status == 200
        assert 0.5 < time.monotonic() - started < 2.5
    first.join(timeout=20)
    opened[0].expect("ready")
    after = connect(carol, server=server)
    assert after.expect("ready")["user_id"] == carol.id


@pytest.mark.timeout(60)
def test_a_process_behind_opening_sockets_accepts_again_as_soon_as_it_caught_up(
    start_daphne, connect, alice, bob, settings
):
    server = start_daphne(CHAT_CONNECT_WAIT_MAX_MS="300", CHAT_CONNECT_PAUSE_MAX_MS="30000")
    opened = []
    profile_store.forget_tokens([alice.token])
    with table_locked(settings, "authtoken_token WRITE"):
        first = threading.Thread(target=lambda: opened.append(connect(alice, server=server)))
        first.start()
        time.sleep(1)
        assert connect(bob, server=server).close_code() == 1013  # and the process stops accepting
        waiting = threading.Thread(target=lambda: opened.append(timed_health(server)))
        waiting.start()
        time.sleep(1.5)
        assert waiting.is_alive()  # not accepted while the first socket still opens
    first.join(timeout=20)
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    # Answered once the first socket opened, well before the 30 s bound.
    assert any(isinstance(o, float) and 1.5 < o < 10 for o in opened), opened


def timed_health(server) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://{server.address}/healthz", timeout=20) as response:
        assert response.status == 200
    return time.monotonic() - started


@pytest.mark.timeout(60)
def test_a_socket_reads_a_remembered_token_from_redis_not_from_the_token_table(connect, alice, bob, settings):
    """A token REST or an earlier socket used is remembered: the sockets of a reconnect storm cost no query."""
    profile_store.forget_tokens([alice.token, bob.token])
    assert alice.get("me").status_code == 200  # REST remembers alice's token
    connect(bob).expect("ready")  # bob's socket reads the table, and remembers his
    with table_locked(settings, "authtoken_token WRITE"):
        for user in (alice, bob):
            assert connect(user).expect("ready", timeout=5)["user_id"] == user.id
