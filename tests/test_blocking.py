"""PROTOCOL.md 1.2 blocking: nothing passes between two users while either blocks the other."""

import pytest

from .helpers import assert_error, avoid_window_edge


def block(user, other):
    return user.client.put(f"/api/v1/users/{other.id}/block")


def unblock(user, other):
    return user.delete(f"users/{other.id}/block")


def test_block_and_unblock_are_idempotent_and_listed(chat):
    alice, bob = chat["alice"], chat["bob"]
    assert block(alice, bob).status_code == 204
    assert block(alice, bob).status_code == 204
    [listed] = alice.get("blocks").json()["results"]
    assert listed["user_id"] == bob.id and listed["blocked"] is True
    assert listed["online"] is False and listed["last_seen"] is None
    assert bob.get("blocks").json() == {"results": []}
    assert unblock(alice, bob).status_code == 204
    assert unblock(alice, bob).status_code == 204
    assert alice.get("blocks").json() == {"results": []}


def test_sends_either_way_are_forbidden_while_blocked(chat):
    alice, bob = chat["alice"], chat["bob"]
    block(bob, alice)
    for sender, recipient in ((alice, bob), (bob, alice)):
        response = sender.post("messages", {"to": recipient.id, "content": "hello?"})
        assert_error(response, 403, "forbidden")
    # The history stays readable to both.
    for user in (alice, bob):
        page = user.get(f"conversations/{chat['conv']}/messages").json()["results"]
        assert [m["content"] for m in page] == ["first"]
    unblock(bob, alice)
    assert alice.send(bob, "again")["content"] == "again"


def test_profiles_and_conversations_tell_who_blocks(chat):
    alice, bob, conv = chat["alice"], chat["bob"], chat["conv"]
    block(alice, bob)
    seen_by_alice = alice.get(f"users/{bob.id}").json()
    seen_by_bob = bob.get(f"users/{alice.id}").json()
    assert seen_by_alice["blocked"] is True and seen_by_bob["blocked"] is False
    for profile in (seen_by_alice, seen_by_bob):
        assert profile["online"] is False and profile["last_seen"] is None
    assert alice.get("users", {"q": "bob"}).json()["results"][0]["blocked"] is True
    for user, peer_blocked in ((alice, True), (bob, False)):
        conversation = user.get(f"conversations/{conv}").json()
        assert conversation["blocked"] is True
        assert conversation["peer"]["blocked"] is peer_blocked
        listed = user.get("conversations").json()["results"][0]
        assert listed["blocked"] is True and listed["peer"]["blocked"] is peer_blocked
    assert chat["carol"].get(f"users/{bob.id}").json()["blocked"] is False
    unblock(alice, bob)
    assert alice.get(f"conversations/{conv}").json()["blocked"] is False
    assert alice.get(f"users/{bob.id}").json()["blocked"] is False


def test_offline_groups_tell_who_blocks_and_hide_presence(chat, connect):
    alice, bob = chat["alice"], chat["bob"]
    sock = connect(alice)  # alice is online: a blocked peer must not see it
    sock.expect("ready")
    [group] = bob.get("offline").json()["results"]
    assert group["sender"]["user_id"] == alice.id and group["sender"]["online"] is True
    block(bob, alice)
    [group] = bob.get("offline").json()["results"]
    assert [m["content"] for m in group["messages"]] == ["first"]
    sender = group["sender"]
    assert (sender["blocked"], sender["online"], sender["last_seen"]) == (True, False, None)
    unblock(bob, alice)
    block(alice, bob)  # blocked by the sender: presence hidden too, but bob blocks nobody
    sender = bob.get("offline").json()["results"][0]["sender"]
    assert (sender["blocked"], sender["online"], sender["last_seen"]) == (False, False, None)


def test_blocking_oneself_or_an_unknown_user(chat):
    alice = chat["alice"]
    assert_error(alice.client.put(f"/api/v1/users/{alice.id}/block"), 400, "validation_error", "user_id")
    assert_error(alice.client.put("/api/v1/users/999999999/block"), 404, "not_found")
    assert_error(alice.delete("users/999999999/block"), 404, "not_found")


def test_blocks_are_rate_limited(chat, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_BLOCK_RATE = (2, 60)
    avoid_window_edge(60)
    assert block(chat["alice"], chat["bob"]).status_code == 204
    assert unblock(chat["alice"], chat["bob"]).status_code == 204
    assert_error(block(chat["alice"], chat["bob"]), 429, "rate_limited")


@pytest.mark.e2e
def test_socket_sends_typing_and_presence_are_withheld_both_ways(connect, chat):
    alice, bob = chat["alice"], chat["bob"]
    alice_sock, bob_sock = connect(alice), connect(bob)
    alice_sock.expect("ready")
    bob_sock.expect("ready")
    alice_sock.send({"type": "watch", "user_ids": [bob.id]})
    assert alice_sock.expect("presence", user_id=bob.id)["online"] is True

    block(bob, alice)
    # Alice's socket learns that bob is now offline to her.
    assert alice_sock.expect("presence", user_id=bob.id) == {
        "type": "presence",
        "user_id": bob.id,
        "online": False,
        "last_seen": None,
    }
    alice_sock.send({"type": "send", "to": bob.id, "content": "hi", "client_msg_id": "b-1"})
    assert alice_sock.expect("error", client_msg_id="b-1")["code"] == "forbidden"
    bob_sock.send({"type": "typing", "conversation_id": chat["conv"]})
    alice_sock.send({"type": "typing", "conversation_id": chat["conv"]})
    alice_sock.send({"type": "watch", "user_ids": [bob.id]})
    assert alice_sock.expect("presence", user_id=bob.id)["online"] is False
    assert not [f for f in alice_sock.drain() if f["type"] == "typing"]
    assert not [f for f in bob_sock.drain() if f["type"] == "typing"]

    unblock(bob, alice)
    assert alice_sock.expect("presence", user_id=bob.id)["online"] is True
    bob_sock.send({"type": "typing", "conversation_id": chat["conv"]})
    assert alice_sock.expect("typing")["user_id"] == bob.id
