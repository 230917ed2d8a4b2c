"""Whole transactions run again when the database fails under them (Galera behind haproxy).

Faults are injected on the real local MariaDB: the committer's connection is
killed (KILL CONNECTION from another connection) in the middle of a batch,
or right after its COMMIT applied (its answer lost), and a real deadlock is
made with a second connection. Nothing is lost and nothing stored twice.
"""

import threading
import time

import MySQLdb
import pytest
from django.conf import settings
from django.db import OperationalError, connection

from chat_project.common import dbretry
from messaging import accept, recall
from messaging.accept import SendRequest, SendResult, accept_batch
from messaging.models import MessageRecord, MessageStream
from unread import services as unread_services
from unread.models import UnreadCounter

from .conftest import wait_for
from .helpers import assert_error


def other_connection() -> MySQLdb.Connection:
    db = settings.DATABASES["default"]
    return MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"], db=db["NAME"], autocommit=True
    )


def kill_this_connection() -> None:
    """KILL CONNECTION this thread's database connection, from another one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (own,) = cursor.fetchone()
    killer = other_connection()
    try:
        killer.cursor().execute(f"KILL CONNECTION {int(own)}")
    finally:
        killer.close()


def batch(alice, bob, carol, prefix: str) -> list[SendRequest]:
    # With and without client_msg_id: only the lookup by id keeps the latter from being stored twice.
    return [
        SendRequest(alice.id, bob.id, f"{prefix} 1", f"{prefix}-1"),
        SendRequest(alice.id, bob.id, f"{prefix} 2", None),
        SendRequest(carol.id, bob.id, f"{prefix} 3", f"{prefix}-3"),
        SendRequest(bob.id, alice.id, f"{prefix} 4", None),
    ]


def assert_stored_once(requests: list[SendRequest], results: list) -> None:
    assert all(isinstance(r, SendResult) and r.created for r in results), results
    for request, result in zip(requests, results, strict=True):
        rows = list(MessageRecord.objects.filter(sender_id=request.sender_id, content=request.content))
        assert [row.msg_id for row in rows] == [result.message["msg_id"]]


def assert_streams_follow_ids(*users) -> None:
    for user in users:
        newest = MessageRecord.objects.filter(sender_id=user.id).order_by("-msg_id").first()
        newest_in = MessageRecord.objects.filter(recipient_id=user.id).order_by("-msg_id").first()
        last = max(m.msg_id for m in (newest, newest_in) if m is not None)
        assert MessageStream.objects.get(user_id=user.id).last_msg_id == last


@pytest.fixture
def users(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    accept_batch(batch(alice, bob, carol, "warm"))  # conversations, streams and counters exist
    return alice, bob, carol


def unread_of(user, peer) -> int:
    counter = UnreadCounter.objects.get(user_id=user.id, conversation__in=_conversations(user, peer))
    return counter.received - counter.read


def _conversations(user, peer):
    from conversations.models import Conversation

    low, high = sorted((user.id, peer.id))
    return Conversation.objects.filter(user_low_id=low, user_high_id=high)


def test_a_connection_killed_mid_batch_runs_the_batch_again_and_stores_each_message_once(users, monkeypatch):
    alice, bob, carol = users
    before = unread_of(bob, alice)
    real = unread_services.add_received
    killed = []

    def add_received_then_lose_the_connection(counts) -> None:
        real(counts)
        if not killed:
            killed.append(True)
            kill_this_connection()

    monkeypatch.setattr(unread_services, "add_received", add_received_then_lose_the_connection)
    requests = batch(alice, bob, carol, "killed")
    results = accept_batch(requests)
    assert killed
    assert_stored_once(requests, results)
    # The killed try's counter increment was rolled back with it.
    assert unread_of(bob, alice) == before + 2
    assert_streams_follow_ids(alice, bob, carol)


def test_a_commit_whose_answer_was_lost_is_not_stored_twice(users, monkeypatch):
    alice, bob, carol = users
    before = unread_of(bob, alice)
    real = accept._commit
    lost = []

    def commit_then_lose_the_answer(rows):
        outcome = real(rows)
        if not lost:
            # The COMMIT applied, then the connection died before its answer arrived.
            lost.append([row.msg_id for row in rows])
            kill_this_connection()
            raise OperationalError(2013, "Lost connection to server during query")
        return outcome

    monkeypatch.setattr(accept, "_commit", commit_then_lose_the_answer)
    requests = batch(alice, bob, carol, "lost")
    results = accept_batch(requests)
    assert_stored_once(requests, results)
    # Acked with the ids of the try that committed, counted once.
    assert [r.message["msg_id"] for r in results] == lost[0]
    assert unread_of(bob, alice) == before + 2
    assert_streams_follow_ids(alice, bob, carol)


def test_a_real_deadlock_makes_the_batch_run_again(users, monkeypatch):
    """Another transaction holds bob's counter, then asks for bob's stream row, which the batch holds."""
    alice, bob, _carol = users
    conversation = _conversations(alice, bob).get()
    errors = []
    real_recover = dbretry.recover

    def recover(exc, attempt) -> None:
        errors.append(dbretry.error_code(exc))
        real_recover(exc, attempt)

    monkeypatch.setattr(dbretry, "recover", recover)
    other = other_connection()
    cursor = other.cursor()
    cursor.execute("BEGIN")
    # Heavy: InnoDB rolls back the lighter transaction of a deadlock, so the batch is the victim.
    cursor.executemany(
        "INSERT INTO t_sensitive_word (word, action, created_at) VALUES (%s, 'mask', NOW())",
        [(f"deadlock{n}",) for n in range(300)],
    )
    cursor.execute(
        "SELECT * FROM t_unread_counter WHERE conversation_id = %s AND user_id = %s FOR UPDATE",
        [conversation.pk, bob.id],
    )
    outcome: dict = {}
    requests = [SendRequest(alice.id, bob.id, "through a deadlock", "deadlock-1")]

    def send() -> None:
        from django.db import connections

        try:
            outcome["results"] = accept_batch(requests)
        except BaseException as exc:
            outcome["error"] = exc
            raise
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    sender.start()
    watcher = other_connection()
    try:

        def batch_waits() -> bool:
            """The batch's counter upsert is waiting for the row this transaction holds."""
            assert sender.is_alive(), outcome
            watch = watcher.cursor()
            watch.execute("SHOW FULL PROCESSLIST")
            return any(
                row[3] == settings.DATABASES["default"]["NAME"] and (row[7] or "").startswith("INSERT INTO t_unread")
                for row in watch.fetchall()
            )

        wait_for(batch_waits, timeout=30)
        # Now the cycle: the batch holds bob's stream row and waits for the counter.
        cursor.execute("SELECT * FROM t_msg_stream WHERE user_id = %s FOR UPDATE", [bob.id])
    finally:
        other.rollback()
        other.close()
        watcher.close()
    sender.join(20)
    assert errors.count(1213) == 1, errors
    assert_stored_once(requests, outcome["results"])
    assert not MessageRecord.objects.filter(content__startswith="deadlock").exists()


def test_mark_read_runs_again_after_a_lost_connection(users, monkeypatch):
    alice, bob, _carol = users
    conversation = _conversations(alice, bob).get()
    real = unread_services.count_read
    killed = []

    def count_then_lose_the_connection(counter, *args) -> None:
        real(counter, *args)
        if not killed:
            killed.append(True)
            kill_this_connection()

    monkeypatch.setattr(unread_services, "count_read", count_then_lose_the_connection)
    from messaging.reads import mark_read

    assert mark_read(bob.id, conversation.pk, None)["unread"] == 0
    assert killed
    assert unread_of(bob, alice) == 0
    assert not MessageRecord.objects.filter(recipient_id=bob.id, session_id=conversation.pk, is_read=False).exists()
    # The retry keeps the read receipt bob gives alice too (the first try's write was rolled back).
    newest = MessageRecord.objects.filter(recipient_id=bob.id, session_id=conversation.pk).order_by("-msg_id").first()
    assert newest is not None
    counter = UnreadCounter.objects.get(conversation_id=conversation.pk, user_id=bob.id)
    assert counter.read_receipt_msg_id == newest.msg_id


def test_a_database_that_stays_away_answers_unavailable_with_retry_after(users, monkeypatch):
    alice, bob, _carol = users
    conversation = _conversations(alice, bob).get()
    tries = []

    def not_ready(*args, **kwargs):
        tries.append(1)
        raise OperationalError(1047, "WSREP has not yet prepared node for application use")

    monkeypatch.setattr(unread_services, "lock_counter", not_ready)
    started = time.monotonic()
    response = bob.post(f"conversations/{conversation.pk}/read", {})
    assert_error(response, 503, "unavailable")
    assert int(response["Retry-After"]) >= 1
    assert len(tries) == dbretry.ATTEMPTS
    assert time.monotonic() - started < 5  # bounded back-off


class LoseTheFirstCommitsAnswer:
    """``transaction.atomic`` whose first block commits, then fails as a connection lost during COMMIT would.

    The COMMIT applied but the caller never heard: its ``on_commit`` callbacks do not run.
    """

    def __init__(self, meanwhile=None) -> None:
        self.lost = False
        # Runs between the lost COMMIT and the retry: what another request did meanwhile.
        self.meanwhile = meanwhile

    def atomic(self):
        from django.db import transaction

        block = transaction.atomic()
        outer = self

        class Block:
            def __enter__(self):
                return block.__enter__()

            def __exit__(self, *exc):
                if exc[0] is not None or outer.lost:
                    return block.__exit__(*exc)
                outer.lost = True
                connection.run_on_commit = []  # never run: the answer to COMMIT was lost
                block.__exit__(None, None, None)
                if outer.meanwhile is not None:
                    outer.meanwhile()
                raise OperationalError(2013, "Lost connection to server during query")

        return Block()


def test_a_recall_whose_commit_answer_was_lost_still_updates_redis_and_pushes(users, monkeypatch, pushed_frames):
    alice, bob, _carol = users
    sent = alice.send(bob, "take it back")
    fake = LoseTheFirstCommitsAnswer()
    monkeypatch.setattr(dbretry, "transaction", fake)
    assert alice.delete(f"messages/{sent['msg_id']}").status_code == 204
    assert fake.lost
    assert MessageRecord.objects.get(msg_id=sent["msg_id"]).recalled_by == "sender"
    # The retry found its own recall applied and did what the lost try owed.
    recalled = [frame for user_id, frame in pushed_frames if frame["type"] == "recalled"]
    assert {frame["msg_id"] for frame in recalled} == {sent["msg_id"]}
    assert len(recalled) == 2  # to the sender and to the recipient
    page = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert next(m for m in page if m["msg_id"] == sent["msg_id"])["status"] == "recalled"


@pytest.mark.parametrize("change", ["edit", "reaction"])
def test_a_change_whose_commit_answer_was_lost_still_updates_redis_and_pushes(
    users, monkeypatch, pushed_frames, change
):
    alice, bob, _carol = users
    sent = alice.send(bob, "first words")
    fake = LoseTheFirstCommitsAnswer()
    monkeypatch.setattr(dbretry, "transaction", fake)
    path = f"messages/{sent['msg_id']}"
    if change == "edit":
        response = alice.patch(path, {"content": "second words"})
    else:
        response = bob.client.put(f"/api/v1/{path}/reaction", {"emoji": "👍"}, format="json")
    assert response.status_code == 200, response.content
    assert fake.lost
    answer = response.json()
    assert answer["rev"] > sent["rev"]
    # The retry found the change applied and did what the lost try owed: both users' changed frames ...
    changed = [(user_id, frame["message"]) for user_id, frame in pushed_frames if frame["type"] == "changed"]
    assert sorted(changed, key=lambda item: item[0]) == [(alice.id, answer), (bob.id, answer)]
    # ... and the recent window the conversation list's last message is read from.
    conversation = bob.get(f"conversations/{sent['conversation_id']}").json()
    assert conversation["last_message"] == answer


def test_a_reaction_whose_commit_answer_was_lost_then_a_recall_leaves_no_reaction(users, monkeypatch):
    """The retry is refused (recalled), so the reaction its lost try stored must not show."""
    alice, bob, _carol = users
    sent = alice.send(bob, "soon gone")
    fake = LoseTheFirstCommitsAnswer(meanwhile=lambda: recall.recall_message(alice.id, sent["msg_id"]))
    monkeypatch.setattr(dbretry, "transaction", fake)
    response = bob.client.put(f"/api/v1/messages/{sent['msg_id']}/reaction", {"emoji": "👍"}, format="json")
    assert fake.lost
    assert_error(response, 403, "forbidden")
    for user in (alice, bob):
        page = user.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
        message = next(m for m in page if m["msg_id"] == sent["msg_id"])
        assert message["status"] == "recalled" and message["reactions"] == []
        conversation = user.get(f"conversations/{sent['conversation_id']}").json()
        assert conversation["last_message"]["reactions"] == []
