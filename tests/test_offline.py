"""Offline messages over REST (nobody here holds a socket, so all they receive is offline): GET offline, offline/ack."""

import pytest

from .helpers import assert_error, assert_profile, offline, unread


def test_offline_groups_by_sender_in_order_of_their_oldest_message(alice, bob, carol):
    c1 = carol.send(alice, "c1")
    b1 = bob.send(alice, "b1")
    c2 = carol.send(alice, "c2")
    b2 = bob.send(alice, "b2")
    alice.send(bob, "to bob")  # alice's own message is not offline for her

    groups = offline(alice)
    assert [g["sender"]["user_id"] for g in groups] == [carol.id, bob.id]
    assert_profile(groups[0]["sender"], carol, nickname="Carol")
    assert_profile(groups[1]["sender"], bob, nickname="Bob")
    assert groups[0]["messages"] == [c1, c2]
    assert groups[1]["messages"] == [b1, b2]

    # After carol's oldest is acked, bob's group holds the oldest message.
    response = alice.post("offline/ack", {"sender_id": carol.id, "up_to": c1["msg_id"]})
    assert response.status_code == 204
    groups = offline(alice)
    assert [(g["sender"]["user_id"], g["messages"]) for g in groups] == [(bob.id, [b1, b2]), (carol.id, [c2])]

    alice.post("offline/ack", {"sender_id": bob.id, "up_to": b2["msg_id"]})
    assert [(g["sender"]["user_id"], g["messages"]) for g in offline(alice)] == [(carol.id, [c2])]
    alice.post("offline/ack", {"sender_id": carol.id, "up_to": c2["msg_id"]})
    assert offline(alice) == []
    # Acking does not touch history or unread.
    assert unread(alice)["total"] == 4


def test_offline_is_empty_without_messages(alice):
    assert offline(alice) == []


def test_offline_ack_of_another_sender_leaves_entries(chat):
    bob, alice = chat["bob"], chat["alice"]
    response = bob.post("offline/ack", {"sender_id": chat["carol"].id, "up_to": chat["msg"]})
    assert response.status_code == 204
    groups = offline(bob)
    assert [(g["sender"]["user_id"], [m["msg_id"] for m in g["messages"]]) for g in groups] == [
        (alice.id, [chat["msg"]])
    ]


def test_offline_ack_up_to_an_older_id_keeps_newer_entries(alice, bob):
    first = alice.send(bob, "1")
    second = alice.send(bob, "2")
    assert bob.post("offline/ack", {"sender_id": alice.id, "up_to": first["msg_id"] - 1}).status_code == 204
    assert [m["msg_id"] for m in offline(bob)[0]["messages"]] == [first["msg_id"], second["msg_id"]]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"up_to": 1}, "sender_id"),
        ({"sender_id": 1}, "up_to"),
        ({}, None),
        ({"sender_id": "1", "up_to": 1}, "sender_id"),
        ({"sender_id": 1, "up_to": "1"}, "up_to"),
        ({"sender_id": 1, "up_to": None}, "up_to"),
    ],
)
def test_offline_ack_needs_both_fields(chat, body, field):
    assert_error(chat["bob"].post("offline/ack", body), 400, "validation_error", field)
    assert len(offline(chat["bob"])) == 1
