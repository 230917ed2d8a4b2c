"""A send survives what the database may throw at it, and never answers 500."""

from django.db import OperationalError

from messaging import accept, streams
from messaging.models import MessageRecord


def test_a_message_id_handed_out_twice_is_refused_by_the_database_and_retried(monkeypatch, alice, bob):
    first = alice.send(bob, "first")
    real_next = streams.next_message_id
    ids = iter([first["msg_id"]])
    monkeypatch.setattr(streams, "next_message_id", lambda above=0: next(ids, None) or real_next(above))

    second = alice.send(bob, "second")
    assert second["msg_id"] > first["msg_id"]
    assert MessageRecord.objects.filter(msg_id=first["msg_id"]).get().content == "first"
    history = bob.get(f"conversations/{first['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in history] == ["first", "second"]
    assert bob.get("unread").json()["total"] == 2


def test_a_deadlock_is_retried_with_a_new_id(monkeypatch, alice, bob):
    real_commit = accept._commit
    calls = []

    def deadlock_once(rows):
        calls.append(rows)
        if len(calls) == 1:
            raise OperationalError(1213, "Deadlock found when trying to get lock")
        return real_commit(rows)

    monkeypatch.setattr(accept, "_commit", deadlock_once)
    sent = alice.send(bob, "after a deadlock")
    assert len(calls) == 2
    assert bob.get("unread").json()["total"] == 1
    assert MessageRecord.objects.get(msg_id=sent["msg_id"]).content == "after a deadlock"


def test_persistent_lock_timeouts_answer_unavailable_not_500(monkeypatch, alice, bob):
    def always_timeout(rows):
        raise OperationalError(1205, "Lock wait timeout exceeded")

    monkeypatch.setattr(accept, "_commit", always_timeout)
    response = alice.post("messages", {"to": bob.id, "content": "x", "client_msg_id": "c-1"})
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "unavailable"
    assert "client_msg_id" in body["detail"]
    assert not MessageRecord.objects.exists()


def test_a_lost_connection_during_the_batch_is_resolved_by_looking_the_message_up(monkeypatch, alice, bob):
    """The connection drops after COMMIT was sent: the message is stored, so the sender gets its 201."""
    real_commit = accept._commit

    def commit_then_lose_the_answer(rows):
        real_commit(rows)
        raise OperationalError(2013, "Lost connection to server during query")

    monkeypatch.setattr(accept, "_commit", commit_then_lose_the_answer)
    response = alice.post("messages", {"to": bob.id, "content": "ambiguous", "client_msg_id": "amb-1"})
    assert response.status_code == 201, response.content
    stored = MessageRecord.objects.get(sender_id=alice.id, client_msg_id="amb-1")
    assert response.json()["msg_id"] == stored.msg_id
    monkeypatch.setattr(accept, "_commit", real_commit)
    again = alice.post("messages", {"to": bob.id, "content": "ambiguous", "client_msg_id": "amb-1"})
    assert again.status_code == 200
    assert MessageRecord.objects.filter(sender_id=alice.id).count() == 1


def test_a_database_outage_answers_unavailable_with_retry_after_not_500(monkeypatch, alice, bob):
    from conversations import views as conversation_views

    def database_gone(*args, **kwargs):
        raise OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'")

    monkeypatch.setattr(conversation_views.services, "list_conversations", database_gone)
    response = alice.get("conversations")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_redis_outage_answers_unavailable_not_500(monkeypatch, alice, bob):
    import redis

    from unread import views as unread_views

    def redis_gone(*args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(unread_views.services, "unread_summary", redis_gone)
    response = bob.get("unread")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
