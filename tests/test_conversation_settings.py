"""PROTOCOL.md 1.2 conversation settings: muted, pinned and archived, each the requesting user's alone."""

import pytest

from .helpers import assert_error, avoid_window_edge, conversation_ids, flush_redis


def patch(user, conversation_id: int, body):
    return user.patch(f"conversations/{conversation_id}", body)


@pytest.fixture
def many(alice, make_user):
    """Seven peers each sent alice a message; conversation ids, oldest first."""
    peers = [make_user(f"peer{i}") for i in range(7)]
    return [peer.send(alice, f"from {peer.username}")["conversation_id"] for peer in peers], peers


def test_settings_are_the_requesters_alone(chat):
    alice, bob, conv = chat["alice"], chat["bob"], chat["conv"]
    response = patch(alice, conv, {"muted": True})
    assert response.status_code == 200, response.content
    assert response.json()["muted"] is True and response.json()["pinned"] is False
    assert response.json()["archived"] is False
    assert alice.get(f"conversations/{conv}").json()["muted"] is True
    assert alice.get("conversations").json()["results"][0]["muted"] is True
    assert bob.get(f"conversations/{conv}").json()["muted"] is False
    # Muted changes no count: the next message still counts as unread.
    bob.send(alice, "still counted")
    assert alice.get(f"conversations/{conv}").json()["unread"] == 1
    assert patch(alice, conv, {}).json()["muted"] is True
    assert patch(alice, conv, {"muted": False}).json()["muted"] is False


def test_pinned_come_first_and_before_pages_through_the_others(alice, many):
    convs, _ = many
    patch(alice, convs[0], {"pinned": True})
    patch(alice, convs[2], {"pinned": True})
    page = alice.get("conversations", {"limit": 2}).json()
    assert [c["conversation_id"] for c in page["results"]] == [convs[2], convs[0], convs[6], convs[5]]
    assert all(c["pinned"] for c in page["results"][:2])
    walked = [c["conversation_id"] for c in page["results"]]
    while page["next_before"] is not None:
        page = alice.get("conversations", {"limit": 2, "before": page["next_before"]}).json()
        walked += [c["conversation_id"] for c in page["results"]]
    assert walked == [convs[2], convs[0], convs[6], convs[5], convs[4], convs[3], convs[1]]
    # The same after Redis lost everything (the settings are rebuilt from the database).
    flush_redis()
    assert conversation_ids(alice, limit=2) == [convs[2], convs[0], convs[6], convs[5]]


def test_a_sixth_pin_is_a_validation_error(alice, many):
    convs, _ = many
    for cid in convs[:5]:
        assert patch(alice, cid, {"pinned": True}).status_code == 200
    assert_error(patch(alice, convs[5], {"pinned": True}), 400, "validation_error", "pinned")
    assert patch(alice, convs[0], {"pinned": True}).status_code == 200  # already pinned: fine
    patch(alice, convs[0], {"pinned": False})
    assert patch(alice, convs[5], {"pinned": True}).json()["pinned"] is True


def test_archived_are_left_out_and_listed_on_their_own(alice, many):
    convs, peers = many
    patch(alice, convs[6], {"archived": True})
    patch(alice, convs[1], {"archived": True})
    assert convs[6] not in conversation_ids(alice) and convs[1] not in conversation_ids(alice)
    assert conversation_ids(alice, archived="true") == [convs[6], convs[1]]
    assert conversation_ids(alice, archived="true", limit=1) == [convs[6]]
    page = alice.get("conversations", {"archived": "true", "limit": 1}).json()
    assert conversation_ids(alice, archived="true", before=page["next_before"]) == [convs[1]]
    # A new message does not unarchive it.
    peers[1].send(alice, "still archived")
    assert conversation_ids(alice, archived="true") == [convs[1], convs[6]]
    assert conversation_ids(alice, limit=100) == [convs[5], convs[4], convs[3], convs[2], convs[0]]


def test_strangers_and_bad_settings(chat):
    assert_error(patch(chat["carol"], chat["conv"], {"muted": True}), 404, "not_found")
    for body in ({"muted": 1}, {"pinned": "true"}, {"archived": None}):
        assert_error(patch(chat["alice"], chat["conv"], body), 400, "validation_error", next(iter(body)))
    assert_error(chat["alice"].get("conversations", {"archived": "yes"}), 400, "validation_error", "archived")


def test_settings_changes_are_rate_limited(chat, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_CONVERSATION_SETTINGS_RATE = (2, 60)
    avoid_window_edge(60)
    assert patch(chat["alice"], chat["conv"], {"muted": True}).status_code == 200
    assert patch(chat["alice"], chat["conv"], {"muted": False}).status_code == 200
    assert_error(patch(chat["alice"], chat["conv"], {"muted": True}), 429, "rate_limited")
