"""A send survives what the database may throw at it, and never answers 500."""

from django.db import OperationalError

from messaging import services
from messaging.models import MessageRecord


def test_a_message_id_handed_out_twice_is_refused_by_the_database_and_retried(monkeypatch, alice, bob):
    first = alice.send(bob, "first")
    real_next = services.next_message_id
    ids = iter([first["msg_id"]])
    monkeypatch.setattr(services, "next_message_id", lambda: next(ids, None) or real_next())

    second = alice.send(bob, "second")
    assert second["msg_id"] > first["msg_id"]
    assert MessageRecord.objects.filter(msg_id=first["msg_id"]).get().content == "first"
    history = bob.get(f"conversations/{first['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in history] == ["first", "second"]


def test_a_deadlock_is_retried_with_a_new_id(monkeypatch, alice, bob):
    real_accept = services._accept
    calls = []

    def deadlock_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError(1213, "Deadlock found when trying to get lock")
        return real_accept(*args)

    monkeypatch.setattr(services, "_accept", deadlock_once)
    sent = alice.send(bob, "after a deadlock")
    assert len(calls) == 2
    assert bob.get("unread").json()["total"] == 1
    assert MessageRecord.objects.get(msg_id=sent["msg_id"]).content == "after a deadlock"


def test_persistent_lock_timeouts_answer_unavailable_not_500(monkeypatch, alice, bob):
    def always_timeout(*args):
        raise OperationalError(1205, "Lock wait timeout exceeded")

    monkeypatch.setattr(services, "_accept", always_timeout)
    response = alice.post("messages", {"to": bob.id, "content": "x"})
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert not MessageRecord.objects.exists()


def test_offline_entries_the_database_no_longer_owes_are_dropped_from_redis(alice, bob):
    from chat_project.redis_client import get_redis
    from messaging import store

    sent = alice.send(bob, "late copy")
    # A fan-out that ran late re-added the entry after the ack reached the database.
    MessageRecord.objects.filter(msg_id=sent["msg_id"]).update(offline=False)
    assert bob.get("offline").json() == {"results": []}
    client = get_redis()
    assert client.zcard(store.sender_key(bob.id, alice.id)) == 0
    assert client.zcard(store.index_key(bob.id)) == 0
