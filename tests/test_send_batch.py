"""Group commit: many sends, one transaction, and each message still stands alone.

The committer (messaging/accept.py) is exercised directly for the statement
budget and through the REST API and real threads for the behaviour users see.
"""

import threading
import time

import MySQLdb
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat_project.common.errors import Forbidden, NotFound, RateLimited
from messaging import accept, sending
from messaging.accept import SendRequest, SendResult, accept_batch
from messaging.inputs import Send
from messaging.models import MessageRecord, SensitiveWord
from unread.models import UnreadCounter

from .conftest import register, wait_for
from .test_attachments import PDF, media, uploaded
from .test_blocking import block

__all__ = ["media"]  # a fixture


def requests_from(sender, recipients, prefix: str) -> list[SendRequest]:
    return [SendRequest(sender.id, r.id, f"{prefix} {i}", f"{prefix}-{i}") for i, r in enumerate(recipients)]


def test_a_batch_costs_the_same_statements_whatever_its_size(make_user):
    alice = make_user("alice")
    peers = [make_user(f"peer{i}") for i in range(20)]
    accept_batch(requests_from(alice, peers, "warm"))  # conversations and stream rows now exist

    with CaptureQueriesContext(connection) as one:
        results = accept_batch(requests_from(alice, peers[:1], "one"))
    assert all(isinstance(r, SendResult) and r.created for r in results)
    with CaptureQueriesContext(connection) as twenty:
        results = accept_batch(requests_from(alice, peers, "twenty"))
    assert all(isinstance(r, SendResult) and r.created for r in results)

    statements = [q["sql"].split()[0].upper() for q in twenty.captured_queries]
    assert len(twenty.captured_queries) == len(one.captured_queries), statements
    # recipients; then lock, counters, insert, conversations, streams, counters read back (plus the
    # transaction's own bookkeeping): nothing per message.
    assert len(twenty.captured_queries) <= 10, statements
    assert statements.count("INSERT") == 2


def test_a_batch_with_attachments_costs_two_statements_more_whatever_its_size(media, make_user):
    alice = make_user("alice")
    peers = [make_user(f"peer{i}") for i in range(10)]
    accept_batch(requests_from(alice, peers, "warm"))  # conversations and stream rows now exist
    uploads = [uploaded(alice, PDF)["attachment_id"] for _ in range(11)]

    def batch(prefix: str, with_files: list[int]) -> int:
        requests = [
            SendRequest(alice.id, p.id, "", f"{prefix}-{i}", attachments=(with_files[i],))
            if i < len(with_files)
            else SendRequest(alice.id, p.id, "text", f"{prefix}-{i}")
            for i, p in enumerate(peers)
        ]
        with CaptureQueriesContext(connection) as captured:
            results = accept_batch(requests)
        assert all(isinstance(r, SendResult) and r.created for r in results), results
        return len(captured.captured_queries)

    without = batch("none", [])
    # Attachments: a locking SELECT and one UPDATE more (messaging/attachments.py), for one send or ten.
    assert batch("one", uploads[:1]) == without + 2
    assert batch("ten", uploads[1:11]) == without + 2
    assert without + 2 <= 12


def test_a_bad_message_fails_alone_never_its_batch(make_user, settings):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    SensitiveWord.objects.create(word="forbiddenword", action=SensitiveWord.Action.REJECT)
    results = accept_batch(
        [
            SendRequest(alice.id, bob.id, "fine", "a"),
            SendRequest(alice.id, 999_999, "nobody there", "b"),
            SendRequest(alice.id, carol.id, "a forbiddenword here", "c"),
            SendRequest(carol.id, bob.id, "also fine", "d"),
        ]
    )
    assert isinstance(results[0], SendResult) and results[0].created
    assert isinstance(results[1], NotFound)
    assert results[2].code == "validation_error"
    assert isinstance(results[3], SendResult) and results[3].created
    assert sorted(MessageRecord.objects.values_list("content", flat=True)) == ["also fine", "fine"]
    assert bob.get("unread").json()["total"] == 2
    assert carol.get("unread").json()["total"] == 0


def test_the_send_rate_limit_refuses_only_what_is_over_it(make_user, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_SEND_RATE = (3, 60)
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    results = accept_batch(
        [SendRequest(alice.id, bob.id, f"m{i}", f"m{i}") for i in range(5)] + [SendRequest(carol.id, bob.id, "c", "c")]
    )
    assert [type(r) for r in results[:5]] == [SendResult] * 3 + [RateLimited] * 2
    assert isinstance(results[5], SendResult)
    assert MessageRecord.objects.filter(sender_id=alice.id).count() == 3


def test_a_repeated_client_msg_id_in_one_batch_or_two_stores_and_counts_once(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    results = accept_batch([SendRequest(alice.id, bob.id, "hi", "same"), SendRequest(alice.id, bob.id, "hi", "same")])
    assert results[0].created and not results[1].created
    assert results[0].message == results[1].message
    again = accept_batch([SendRequest(alice.id, bob.id, "hi", "same"), SendRequest(alice.id, bob.id, "new", "other")])
    assert not again[0].created and again[0].message == results[0].message
    assert again[1].created
    assert MessageRecord.objects.filter(sender_id=alice.id).count() == 2
    counter = UnreadCounter.objects.get(user_id=bob.id)
    assert (counter.received, counter.read) == (2, 0)
    assert bob.get("unread").json()["total"] == 2


def test_concurrent_sends_share_transactions_and_keep_each_senders_order(make_user, monkeypatch, settings):
    settings.CHAT_SEND_BATCH_WAIT_MS = 20
    senders = [make_user(f"s{i}") for i in range(8)]
    bob = make_user("bob")
    sizes: list[int] = []
    real_accept_batch = accept.accept_batch

    def recording(requests):
        sizes.append(len(requests))
        return real_accept_batch(requests)

    monkeypatch.setattr(accept, "accept_batch", recording)
    acked: dict[int, list[int]] = {s.id: [] for s in senders}
    errors: list[Exception] = []

    def send_five(sender) -> None:
        try:
            for i in range(5):
                result = sending.send_message(
                    sender.id, Send(bob.id, f"{sender.username} {i}", f"{sender.username}-{i}")
                )
                acked[sender.id].append(result.message["msg_id"])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send_five, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(sizes) == 40 and max(sizes) > 1, sizes
    for sender in senders:
        stored = list(
            MessageRecord.objects.filter(sender_id=sender.id).order_by("msg_id").values_list("content", flat=True)
        )
        assert stored == [f"{sender.username} {i}" for i in range(5)]
        assert acked[sender.id] == sorted(acked[sender.id])
    assert bob.get("unread").json()["total"] == 40


def test_sync_never_passes_a_send_whose_commit_is_stalled(make_user, settings):
    """A send held up by a table lock another session holds: sync answers meanwhile,
    and continuing from its cursor still finds the message once it commits."""
    settings.CHAT_ACCEPT_DEADLINE_SECONDS = 30
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    carol.send(bob, "before")
    db = settings.DATABASES["default"]
    blocker = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"], db=db["NAME"]
    )
    outcome: dict = {}
    try:
        blocker.cursor().execute("LOCK TABLES t_msg_record_list READ")
        sender = threading.Thread(
            target=lambda: outcome.update(result=sending.send_message(alice.id, Send(bob.id, "stalled", "stalled-1")))
        )
        sender.start()
        sender.join(1.5)
        assert sender.is_alive(), "the send should be waiting for the table lock"
        during = bob.get("sync", {"since": 0}).json()
        assert [m["content"] for m in during["results"]] == ["before"]
    finally:
        blocker.cursor().execute("UNLOCK TABLES")
        blocker.close()
    sender.join(30)
    stalled = outcome["result"].message
    assert stalled["content"] == "stalled"
    after = bob.get("sync", {"since": during["next_since"]}).json()
    assert [m["msg_id"] for m in after["results"]] == [stalled["msg_id"]]


def test_a_message_to_a_user_deactivated_meanwhile_is_not_found(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice.send(bob, "hello")
    from profiles.models import User

    User.objects.filter(pk=bob.id).update(is_active=False)
    response = alice.post("messages", {"to": bob.id, "content": "still there?"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_sends_over_rest_answer_with_the_stored_message(make_user):
    alice = register("alice")
    bob = register("bob")
    first = alice.post("messages", {"to": bob.id, "content": "hi 👋", "client_msg_id": "x1"})
    assert first.status_code == 201
    again = alice.post("messages", {"to": bob.id, "content": "hi 👋", "client_msg_id": "x1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert MessageRecord.objects.get(msg_id=first.json()["msg_id"]).content == "hi 👋"


def test_a_sender_that_gave_up_does_not_stop_the_committer(make_user, monkeypatch):
    """An async sender whose wait timed out cancels its future (asyncio.wrap_future); answering it
    must not end the committer thread, or the process would accept no send again (the cluster
    fault suite's database-writer stop found it)."""
    from messaging.committer import committer

    alice, bob = make_user("alice"), make_user("bob")
    gate = threading.Event()
    real_accept_batch = accept.accept_batch

    def held(requests):
        gate.wait(10)
        return real_accept_batch(requests)

    monkeypatch.setattr(accept, "accept_batch", held)
    gave_up = committer.submit(SendRequest(alice.id, bob.id, "slow", "gave-up-1"))
    assert gave_up.cancel()
    gate.set()
    result = sending.send_message(alice.id, Send(bob.id, "next", "gave-up-2"))
    assert result.message["content"] == "next"


def test_a_stalled_broker_delays_pushes_not_acks(make_user, monkeypatch):
    """Enqueuing the fan-out (a RabbitMQ node failing over) must not hold the committer: sends are
    acked while the broker hangs, and their fan-out is enqueued, several batches in one task, once it
    answers again."""
    from messaging import committer as committer_module

    alice, bob = make_user("alice"), make_user("bob")
    broker, stuck = threading.Event(), threading.Event()
    enqueued: list[list[int]] = []

    def stalled_delay(msg_ids, projected):
        stuck.set()
        broker.wait(30)
        enqueued.append(list(msg_ids))

    monkeypatch.setattr(committer_module.fan_out_batch, "delay", stalled_delay)
    first = sending.send_message(alice.id, Send(bob.id, "one", "stall-1"))
    assert stuck.wait(10)  # the enqueuer hangs on the first task; the committer must not
    started = time.monotonic()
    others = [sending.send_message(alice.id, Send(bob.id, f"n{i}", f"stall-{i}")) for i in range(2, 6)]
    assert time.monotonic() - started < 10, "sends waited for the broker"
    assert enqueued == []
    broker.set()
    wait_for(lambda: sum(len(ids) for ids in enqueued) == 5)
    assert enqueued[0] == [first.message["msg_id"]]
    assert [i for ids in enqueued[1:] for i in ids] == [r.message["msg_id"] for r in others]
    assert len(enqueued) < 5  # what piled up went in fewer tasks than batches


def test_a_full_enqueue_queue_leaves_the_fan_out_to_the_sweeper(make_user, monkeypatch, settings):
    from messaging import committer as committer_module

    settings.CHAT_FAN_OUT_ENQUEUE_MAX = 0
    monkeypatch.setattr(committer_module.fan_out_batch, "delay", lambda *args: pytest.fail("enqueued"))
    alice, bob = make_user("alice"), make_user("bob")
    stored = sending.send_message(alice.id, Send(bob.id, "kept", "full-1")).message["msg_id"]
    record = MessageRecord.objects.get(msg_id=stored)
    assert record.content == "kept" and record.fan_out_done is False


def test_one_batch_refuses_a_blocked_pair_and_an_inactive_recipient_alone(make_user):
    """Recipients and blocks are checked in one statement for the whole batch; each refusal stays its own."""
    from profiles.models import User

    alice, bob, carol, dave, erin = (make_user(name) for name in ("alice", "bob", "carol", "dave", "erin"))
    assert block(carol, alice).status_code == 204  # carol blocks alice
    assert block(alice, erin).status_code == 204  # alice blocks erin, who is deactivated too
    User.objects.filter(pk__in=[dave.id, erin.id]).update(is_active=False)
    batch = [
        SendRequest(alice.id, peer.id, f"to {peer.username}", f"c-{peer.username}") for peer in (bob, carol, dave, erin)
    ]
    batch.append(SendRequest(bob.id, carol.id, "bob to carol", "c-bob"))
    to_bob, to_carol, to_dave, to_erin, bob_to_carol = accept_batch(batch)
    assert isinstance(to_bob, SendResult) and to_bob.created
    assert isinstance(to_carol, Forbidden)
    assert isinstance(to_dave, NotFound) and isinstance(to_erin, NotFound)
    assert isinstance(bob_to_carol, SendResult) and bob_to_carol.created
    assert set(MessageRecord.objects.values_list("content", flat=True)) == {"to bob", "bob to carol"}
