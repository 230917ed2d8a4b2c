"""PROTOCOL.md "Version 1.1 additions" on the REST side, as a client sees them.

``GET conversations/with/{user_id}``, the Conversation's ``peer_read_up_to``,
the Message's ``recalled_by`` (and the ``recalled`` frame's), and what
deactivated users look like to others. Users and messages are made through
the API; moderation goes through the admin's service.
"""

import asyncio
import importlib
import io
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from chat_project.common import push
from messaging.recall import moderate_recall

from .conftest import ApiUser, clear_redis


def assert_not_found(response) -> None:
    assert response.status_code == 404, (response.status_code, response.content)
    assert response.json()["code"] == "not_found"


def conversation_with(user: ApiUser, peer: ApiUser | int, slash: str = "") -> dict:
    peer_id = peer if isinstance(peer, int) else peer.id
    response = user.get(f"conversations/with/{peer_id}{slash}")
    assert response.status_code == 200, response.content
    return response.json()


def listed(user: ApiUser, conversation_id: int) -> dict:
    page = user.get("conversations", {"limit": 100}).json()["results"]
    return next(c for c in page if c["conversation_id"] == conversation_id)


def read(user: ApiUser, conversation_id: int, up_to: int | None = None) -> None:
    body = {} if up_to is None else {"up_to": up_to}
    response = user.post(f"conversations/{conversation_id}/read", body)
    assert response.status_code == 200, response.content


def recall(user: ApiUser, message: dict) -> None:
    response = user.delete(f"messages/{message['msg_id']}")
    assert response.status_code == 204, response.content


def history(user: ApiUser, conversation_id: int) -> list[dict]:
    response = user.get(f"conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def flush_redis() -> None:
    """Redis restarts empty (data keys only)."""
    clear_redis([settings.CHAT_REDIS_URL])


def deactivate(user: ApiUser) -> None:
    # What the admin's "active" checkbox does: a save, with its signals.
    account = get_user_model().objects.get(pk=user.id)
    account.is_active = False
    account.save()


# --- GET conversations/with/{user_id} ------------------------------------------------


def test_conversation_with_a_user_is_the_same_conversation_for_both(alice, bob):
    sent = alice.send(bob, "hello")
    bob.send(alice, "hi back")
    mine = conversation_with(alice, bob)
    assert mine == alice.get(f"conversations/{sent['conversation_id']}").json()
    assert mine["conversation_id"] == sent["conversation_id"]
    assert mine["peer"]["user_id"] == bob.id
    assert mine["last_message"]["content"] == "hi back"
    assert mine["unread"] == 1
    theirs = conversation_with(bob, alice, slash="/")
    assert theirs["conversation_id"] == sent["conversation_id"]
    assert theirs["peer"]["user_id"] == alice.id
    assert theirs["unread"] == 1


def test_conversation_with_is_not_found_before_any_message_for_strangers_unknown_ids_and_yourself(alice, bob, carol):
    alice.send(bob, "just us")
    assert_not_found(carol.get(f"conversations/with/{alice.id}"))
    assert_not_found(alice.get(f"conversations/with/{carol.id}/"))
    assert_not_found(alice.get("conversations/with/987654321"))
    assert_not_found(alice.get(f"conversations/with/{2**53 - 1}"))
    assert_not_found(alice.get(f"conversations/with/{10**30}"))
    assert_not_found(alice.get(f"conversations/with/{alice.id}"))


def test_conversation_with_needs_credentials(anonymous, alice, bob):
    alice.send(bob, "hello")
    response = anonymous.get(f"/api/v1/conversations/with/{bob.id}")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_conversation_with_a_deactivated_peer_is_still_answered(alice, bob):
    sent = alice.send(bob, "before you left")
    deactivate(bob)
    assert conversation_with(alice, bob)["conversation_id"] == sent["conversation_id"]


# --- peer_read_up_to --------------------------------------------------------------------


def test_peer_read_up_to_follows_the_peers_reads_of_my_messages(alice, bob):
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "two")
    cid = a1["conversation_id"]
    assert conversation_with(alice, bob)["peer_read_up_to"] is None
    assert listed(alice, cid)["peer_read_up_to"] is None

    read(bob, cid, a1["msg_id"])
    assert conversation_with(alice, bob)["peer_read_up_to"] == a1["msg_id"]
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]
    assert alice.get(f"conversations/{cid}").json()["peer_read_up_to"] == a1["msg_id"]
    # Bob's side: alice has read none of his messages (he sent none).
    assert conversation_with(bob, alice)["peer_read_up_to"] is None

    b1 = bob.send(alice, "my reply")
    read(bob, cid)  # everything: bob's read position is his own b1, above a2
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]
    assert conversation_with(bob, alice)["peer_read_up_to"] is None
    read(alice, cid)
    assert listed(bob, cid)["peer_read_up_to"] == b1["msg_id"]

    a3 = alice.send(bob, "three")
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]
    read(bob, cid, a3["msg_id"])
    assert listed(alice, cid)["peer_read_up_to"] == a3["msg_id"]


def test_a_message_sent_after_a_read_is_not_read_whatever_the_read_position(alice, bob):
    a1 = alice.send(bob, "one")
    cid = a1["conversation_id"]
    read(bob, cid, 2**53 - 1)  # a read position beyond every message
    a2 = alice.send(bob, "two")
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]
    flush_redis()
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]
    read(bob, cid)
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]


def test_peer_read_up_to_is_an_own_message_below_a_read_position_on_the_peers_message(alice, bob):
    a1 = alice.send(bob, "question")
    b1 = bob.send(alice, "answer")
    alice.send(bob, "thanks")  # newer than bob's read position
    cid = a1["conversation_id"]
    read(bob, cid, b1["msg_id"])
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]


def test_peer_read_up_to_never_goes_back(alice, bob):
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "two")
    cid = a1["conversation_id"]
    read(bob, cid, a2["msg_id"])
    read(bob, cid, a1["msg_id"])  # an older read position from another device
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]
    recall(alice, a2)  # a read message that is recalled stays read
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]


def test_peer_read_up_to_does_not_count_a_recalled_unread_message_as_read(alice, bob):
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "oops")
    cid = a1["conversation_id"]
    read(bob, cid, a1["msg_id"])
    recall(alice, a2)  # counts as read for the unread count, but bob never read it
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]
    flush_redis()
    assert listed(alice, cid)["peer_read_up_to"] == a1["msg_id"]


def test_a_recall_below_a_read_position_beyond_the_newest_message_counts_as_read_after_a_flush_too(alice, bob):
    a1 = alice.send(bob, "one")
    cid = a1["conversation_id"]
    read(bob, cid, 2**53 - 1)
    a2 = alice.send(bob, "oops")
    recall(alice, a2)  # now read, and below bob's read position: the rule counts it
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]
    flush_redis()
    assert listed(alice, cid)["peer_read_up_to"] == a2["msg_id"]


def test_peer_read_up_to_after_a_flush_is_the_live_value_at_every_step(alice, bob):
    # The rebuild reads what mark-read and recall kept on the reader's counter row.
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "two")
    a3 = alice.send(bob, "three")
    cid = a1["conversation_id"]
    steps = [
        (lambda: read(bob, cid, a1["msg_id"]), a1["msg_id"]),
        (lambda: read(bob, cid, a1["msg_id"]), a1["msg_id"]),  # again: nothing moves
        (lambda: recall(alice, a3), a1["msg_id"]),  # unread and above the position: not a receipt
        (lambda: read(bob, cid, a2["msg_id"]), a2["msg_id"]),
        (lambda: read(bob, cid, a1["msg_id"]), a2["msg_id"]),  # an older position from another device
        # Everything: the position passes a3, which its recall made read (bob saw where it was).
        (lambda: read(bob, cid), a3["msg_id"]),
    ]
    for step, want in steps:
        step()
        assert listed(alice, cid)["peer_read_up_to"] == want
        flush_redis()
        assert listed(alice, cid)["peer_read_up_to"] == want
        assert conversation_with(alice, bob)["peer_read_up_to"] == want


def test_the_read_receipt_migration_backfills_what_mark_read_keeps(alice, bob, carol):
    # unread 0002 fills read_receipt_msg_id on a database of the release before it.
    a1 = alice.send(bob, "one")
    alice.send(bob, "two")
    c1 = carol.send(alice, "to alice")
    read(bob, a1["conversation_id"], a1["msg_id"])
    read(alice, c1["conversation_id"])
    table = "SELECT id, read_receipt_msg_id FROM t_unread_counter ORDER BY id"
    with connection.cursor() as cursor:
        cursor.execute(table)
        kept = cursor.fetchall()
        assert sorted(v for _, v in kept) == sorted([a1["msg_id"], c1["msg_id"]])  # bob's and alice's
        cursor.execute("UPDATE t_unread_counter SET read_receipt_msg_id = 0")
    migration = importlib.import_module("unread.migrations.0002_unreadcounter_read_receipt_msg_id")
    migration.BATCH = 1  # several batches, as on a large table
    try:
        migration.backfill(None, SimpleNamespace(connection=connection))
    finally:
        migration.BATCH = 5000
    with connection.cursor() as cursor:
        cursor.execute(table)
        assert cursor.fetchall() == kept


def test_peer_read_up_to_is_rebuilt_from_the_database_after_a_redis_flush(alice, bob, carol):
    a1 = alice.send(bob, "to bob")
    c1 = carol.send(alice, "to alice")
    alice.send(carol, "to carol")
    read(bob, a1["conversation_id"])
    read(alice, c1["conversation_id"])
    before = {
        user.username: (user.get("conversations").json(), conversation_with(user, peer))
        for user, peer in ((alice, bob), (bob, alice), (carol, alice))
    }
    assert before["alice"][1]["peer_read_up_to"] == a1["msg_id"]
    assert before["carol"][1]["peer_read_up_to"] == c1["msg_id"]

    def seen() -> dict:
        return {
            user.username: (user.get("conversations").json(), conversation_with(user, peer))
            for user, peer in ((alice, bob), (bob, alice), (carol, alice))
        }

    flush_redis()
    assert seen() == before  # lazily, on the missing ready markers
    flush_redis()
    call_command("rebuild_redis", stdout=io.StringIO())
    assert seen() == before


# --- recalled_by -------------------------------------------------------------------------


def test_recalled_by_is_null_until_the_sender_recalls(alice, bob):
    kept = alice.send(bob, "stays")
    taken = alice.send(bob, "goes")
    assert kept["recalled_by"] is None and taken["recalled_by"] is None
    recall(alice, taken)
    cid = taken["conversation_id"]
    for user in (alice, bob):
        by_id = {m["msg_id"]: m for m in history(user, cid)}
        assert by_id[kept["msg_id"]]["recalled_by"] is None
        assert by_id[taken["msg_id"]]["status"] == "recalled"
        assert by_id[taken["msg_id"]]["recalled_by"] == "sender"
        assert listed(user, cid)["last_message"]["recalled_by"] == "sender"
        synced = {m["msg_id"]: m for m in user.get("sync", {"since": 0}).json()["results"]}
        assert synced[taken["msg_id"]]["recalled_by"] == "sender"
    offline = bob.get("offline").json()["results"]
    assert [m["recalled_by"] for group in offline for m in group["messages"]] == [None, "sender"]


def test_recalled_by_moderator_and_a_later_sender_recall_changes_nothing(alice, bob):
    sent = alice.send(bob, "reported")
    assert moderate_recall(sent["msg_id"]) is True
    assert moderate_recall(sent["msg_id"]) is False
    recall(alice, sent)  # already recalled: 204 again, still the moderator's
    for user in (alice, bob):
        message = history(user, sent["conversation_id"])[-1]
        assert (message["status"], message["content"], message["recalled_by"]) == ("recalled", "", "moderator")
    flush_redis()
    assert listed(alice, sent["conversation_id"])["last_message"]["recalled_by"] == "moderator"


def test_the_recalled_frame_says_who_recalled(alice, bob):
    """Through the real channel layer: a listener in the alice group gets the frame recall pushes."""
    layer = get_channel_layer()
    sent = alice.send(bob, "take it back")

    async def listen_while_recalling() -> dict:
        # One event loop for the listener's channel and group (the pub/sub layer is per loop).
        channel = await layer.new_channel()
        await layer.group_add(push.user_group(alice.id), channel)
        await sync_to_async(recall)(alice, sent)
        while True:
            event = await asyncio.wait_for(layer.receive(channel), timeout=15)
            frames = event.get("frames") or [event["frame"]]
            for frame in frames:
                if frame["type"] == "recalled":
                    return frame

    frame = async_to_sync(listen_while_recalling)()
    assert frame == {
        "type": "recalled",
        "conversation_id": sent["conversation_id"],
        "msg_id": sent["msg_id"],
        "recalled_by": "sender",
    }


# --- deactivated users ----------------------------------------------------------------------


def test_a_deactivated_user_is_visible_only_to_users_who_share_a_conversation(alice, bob, carol):
    alice.send(bob, "hi")
    assert carol.get(f"users/{bob.id}").status_code == 200  # cached while active
    deactivate(bob)
    response = alice.get(f"users/{bob.id}")
    assert response.status_code == 200, response.content
    profile = response.json()
    assert (profile["user_id"], profile["username"], profile["is_active"]) == (bob.id, "bob", False)
    assert_not_found(carol.get(f"users/{bob.id}"))
    assert_not_found(carol.get(f"users/{bob.id}/"))
    # Active users stay visible to everyone; unknown ids are not found.
    assert carol.get(f"users/{alice.id}").status_code == 200
    assert_not_found(carol.get("users/987654321"))


def test_search_never_lists_deactivated_users(alice, bob, make_user):
    make_user("bobby", "Bobby")
    alice.send(bob, "hi")
    assert {p["username"] for p in alice.get("users", {"q": "bob"}).json()["results"]} == {"bob", "bobby"}
    deactivate(bob)
    for q in ("bob", "Bo", "BOB"):
        assert [p["username"] for p in alice.get("users", {"q": q}).json()["results"]] == ["bobby"]


def test_sending_to_a_deactivated_user_stays_not_found(alice, bob):
    first = alice.send(bob, "hi")
    deactivate(bob)
    assert_not_found(alice.post("messages", {"to": bob.id, "content": "are you there?"}))
    assert [m["msg_id"] for m in history(alice, first["conversation_id"])] == [first["msg_id"]]


@pytest.mark.parametrize("path", ["users/{id}", "conversations/with/{id}"])
def test_a_user_without_a_conversation_cannot_tell_a_deactivated_user_from_an_unknown_one(alice, bob, path):
    deactivate(bob)
    unknown = alice.get(path.format(id=987654321))
    deactivated = alice.get(path.format(id=bob.id))
    assert_not_found(deactivated)
    assert deactivated.json() == unknown.json()
