"""Redis flushed and rebuilt (lazily and by rebuild_redis): users see exactly what they saw before."""

import io

import redis
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store
from messaging.models import MessageRecord
from unread import store as unread_store

from .conftest import wait_for
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


# --- a large list after a flush: the page from the database, the rest by a worker ------------


def give_alice_more_conversations(alice, make_user) -> None:
    """Two more peers for alice (four conversations): one she has read, one she has not."""
    dave, erin = make_user("dave", "Dave"), make_user("erin", "Erin")
    d1 = dave.send(alice, "hi from dave")
    dave.send(alice, "still there?")
    read(alice, d1["conversation_id"], d1["msg_id"])
    alice.send(erin, "hi erin")
    e1 = erin.send(alice, "hi alice")
    read(alice, e1["conversation_id"])
    alice.send(erin, "read this")
    read(erin, e1["conversation_id"])  # a read receipt for alice's "read this"


def list_state_is_rebuilt(user) -> bool:
    client = get_redis()
    return bool(
        client.exists(unread_store.ready_key(user.id))
        and client.exists(conversation_store.peer_read_ready_key(user.id))
        and not client.exists(conversation_store.list_rebuild_key(user.id))
    )


def test_a_large_list_after_a_flush_is_exact_from_the_database_before_any_rebuild(
    alice, bob, carol, make_user, settings
):
    # Every list counts as large; no worker runs, so the rebuild stays queued.
    settings.CHAT_LIST_INLINE_REBUILD = 0
    build_realistic_state(alice, bob, carol)
    give_alice_more_conversations(alice, make_user)
    before = snapshot([alice])["alice"]
    assert len(before["conversations"]["results"]) == 4
    assert len(before["pages"]) == 2
    assert any(c["unread"] for c in before["conversations"]["results"])
    assert any(c["peer_read_up_to"] for c in before["conversations"]["results"])

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    delayed = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('global_keyprefix', '')}delayed"
    flush_redis()
    queued = broker.llen(delayed)
    # Each page (and the full list) reads its counters and receipts from the database, again and again.
    for _ in range(2):
        assert alice.get("conversations").json() == before["conversations"]
        pages = [alice.get("conversations", {"limit": 2}).json()]
        pages.append(alice.get("conversations", {"limit": 2, "before": pages[0]["next_before"]}).json())
        assert pages == before["pages"]
    client = get_redis()
    assert not client.exists(unread_store.ready_key(alice.id))
    assert not client.exists(conversation_store.peer_read_ready_key(alice.id))
    # One rebuild queued for all those pages: the claim holds until a worker is done.
    assert client.exists(conversation_store.list_rebuild_key(alice.id))
    assert broker.llen(delayed) == queued + 1
    # The other readers of the counters rebuild them as before.
    assert snapshot([alice])["alice"] == before


def test_a_large_list_after_a_flush_is_rebuilt_by_a_worker_and_then_read_from_redis(
    alice, bob, carol, make_user, settings, celery_worker
):
    settings.CHAT_LIST_INLINE_REBUILD = 0
    build_realistic_state(alice, bob, carol)
    give_alice_more_conversations(alice, make_user)
    users = [alice, bob, carol]
    before = snapshot(users)

    flush_redis()
    assert snapshot(users) == before
    for user in users:
        wait_for(lambda user=user: list_state_is_rebuilt(user))
    with CaptureQueriesContext(connection) as captured:
        warm = alice.get("conversations")
    assert warm.json() == before["alice"]["conversations"]
    assert not [q for q in captured if "t_unread_counter" in q["sql"]], captured.captured_queries
    # Writes after the rebuild count on top of it.
    bob.send(alice, "after the rebuild")
    assert_unread_matches_database(*users)
    assert alice.get("unread").json()["total"] == before["alice"]["unread"]["total"] + 1
