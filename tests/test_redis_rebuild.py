"""Redis flushed and rebuilt (lazily and by rebuild_redis): users see exactly what they saw before."""

import io

from django.core.management import call_command

from messaging.models import MessageRecord

from .helpers import assert_unread_matches_database, flush_redis, read, recall, snapshot


def build_realistic_state(alice, bob, carol) -> None:
    a1 = alice.send(bob, "hello bob 👋")
    a2 = alice.send(bob, "are you there?")
    alice.send(bob, "ping")
    b1 = bob.send(alice, "yes!")
    c1 = carol.send(alice, "hi alice")
    carol.send(alice, "lunch?")
    carol.send(bob, "hi bob")
    bc1 = bob.send(carol, "hey carol")
    alice.send(carol, "sure")
    c_last = carol.send(alice, "see you")
    # Reads: bob up to a2, alice all of carol's.
    read(bob, a1["conversation_id"], a2["msg_id"])
    read(alice, c1["conversation_id"])
    # Recalls: one unread (the last of a conversation), one read.
    recall(carol, c_last)
    recall(alice, a1)
    recall(bob, bc1)
    # Offline acks (nobody has a socket, so everything arrived offline).
    response = bob.post("offline/ack", {"sender_id": alice.id, "up_to": a2["msg_id"]})
    assert response.status_code == 204
    response = alice.post("offline/ack", {"sender_id": bob.id, "up_to": b1["msg_id"]})
    assert response.status_code == 204


def test_everything_users_see_survives_a_redis_flush_and_a_rebuild(alice, bob, carol):
    users = [alice, bob, carol]
    build_realistic_state(alice, bob, carol)
    assert_unread_matches_database(*users)
    before = snapshot(users)
    # Sanity: the state is not trivial.
    assert len(before["alice"]["conversations"]["results"]) == 2
    assert before["bob"]["unread"]["total"] > 0
    assert before["bob"]["offline"]["results"]
    assert any(
        c["last_message"]["status"] == "recalled" for u in before.values() for c in u["conversations"]["results"]
    )

    flush_redis()
    assert snapshot(users) == before  # lazy rebuild on the missing ready markers

    call_command("rebuild_redis", stdout=io.StringIO())
    assert snapshot(users) == before

    flush_redis()
    call_command("rebuild_redis", stdout=io.StringIO())
    assert snapshot(users) == before
    assert_unread_matches_database(*users)


def test_traffic_after_a_redis_flush_is_counted_on_top_of_the_rebuilt_state(alice, bob, carol):
    users = [alice, bob, carol]
    build_realistic_state(alice, bob, carol)
    flush_redis()
    # Writes arrive before any read has rebuilt anything.
    new = alice.send(bob, "after the restart")
    carol.send(bob, "me too")
    read(alice, new["conversation_id"])
    recall(alice, new)
    alice.send(bob, "last one")
    assert_unread_matches_database(*users)
    after = snapshot(users)
    flush_redis()
    assert snapshot(users) == after
    offline_ids = {m["msg_id"] for group in after["bob"]["offline"]["results"] for m in group["messages"]}
    assert offline_ids == set(
        MessageRecord.objects.filter(recipient_id=bob.id, offline=True).values_list("msg_id", flat=True)
    )
