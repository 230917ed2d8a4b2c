"""Conversations over REST: the list (order, paging, limits) and conversations/{id}."""

import pytest

from chat_project.common.redis_client import get_redis
from conversations import store

from .helpers import assert_conversation, assert_error, assert_profile, conversation_ids

# --- the list ------------------------------------------------------------------


def test_conversation_list_is_newest_last_message_first(alice, bob, carol):
    with_bob = alice.send(bob, "1")["conversation_id"]
    with_carol = carol.send(alice, "2")["conversation_id"]
    assert conversation_ids(alice) == [with_carol, with_bob]

    last = alice.send(bob, "3")
    page = alice.get("conversations").json()
    assert page["next_before"] is None
    assert [c["conversation_id"] for c in page["results"]] == [with_bob, with_carol]
    for conversation in page["results"]:
        assert_conversation(conversation)
    first = page["results"][0]
    assert first["last_message"] == last
    assert_profile(first["peer"], bob, nickname="Bob")
    assert first["unread"] == 0
    assert_profile(page["results"][1]["peer"], carol)
    assert page["results"][1]["unread"] == 1

    # Both users see the same conversation id.
    assert conversation_ids(bob) == [with_bob]
    assert conversation_ids(carol) == [with_carol]


def test_conversation_list_without_conversations(alice):
    assert alice.get("conversations").json() == {"results": [], "next_before": None}


def test_conversation_list_pages_with_before(alice, make_user):
    peers = [make_user(f"peer{n}", "") for n in range(5)]
    for peer in peers:
        peer.send(alice, "hello")
    everything = conversation_ids(alice)
    assert len(everything) == 5

    seen, before = [], None
    for _ in range(10):
        params = {"limit": 2} if before is None else {"limit": 2, "before": before}
        page = alice.get("conversations", params).json()
        assert len(page["results"]) <= 2
        seen += [c["conversation_id"] for c in page["results"]]
        before = page["next_before"]
        if before is None:
            break
        assert before == page["results"][-1]["last_message"]["msg_id"]
    assert seen == everything
    assert len(seen) == 5


def test_conversation_list_limit_is_clamped(alice, bob, carol):
    alice.send(bob, "1")
    alice.send(carol, "2")
    for limit in ("0", "-3"):
        page = alice.get("conversations", {"limit": limit}).json()
        assert len(page["results"]) == 1
        assert page["next_before"] is not None
    assert len(alice.get("conversations", {"limit": 1000}).json()["results"]) == 2


def test_conversation_list_limit_above_100_answers_100(alice, make_user):
    for n in range(101):
        make_user(f"fan{n:03d}", "").send(alice, "hi")
    page = alice.get("conversations", {"limit": 1000}).json()
    assert len(page["results"]) == 100
    assert page["next_before"] is not None
    assert len(alice.get("conversations", {"limit": 100, "before": page["next_before"]}).json()["results"]) == 1
    assert len(alice.get("conversations").json()["results"]) == 20


@pytest.mark.parametrize(
    "params, field", [({"limit": "abc"}, "limit"), ({"limit": "1.5"}, "limit"), ({"before": "x"}, "before")]
)
def test_conversation_list_malformed_parameters(alice, params, field):
    assert_error(alice.get("conversations", params), 400, "validation_error", field)


# --- one conversation ----------------------------------------------------------


def test_get_one_conversation(alice, bob):
    alice.send(bob, "one")
    last = alice.send(bob, "two")
    conversation_id = last["conversation_id"]

    seen_by_alice = assert_conversation(alice.get(f"conversations/{conversation_id}").json())
    assert seen_by_alice["conversation_id"] == conversation_id
    assert_profile(seen_by_alice["peer"], bob)
    assert seen_by_alice["last_message"] == last
    assert seen_by_alice["unread"] == 0

    seen_by_bob = assert_conversation(bob.get(f"conversations/{conversation_id}").json())
    assert_profile(seen_by_bob["peer"], alice)
    assert seen_by_bob["unread"] == 2


def test_conversation_of_others_is_not_found(chat):
    carol, conv = chat["carol"], chat["conv"]
    assert_error(carol.get(f"conversations/{conv}"), 404, "not_found")
    assert_error(carol.get(f"conversations/{conv}/messages"), 404, "not_found")
    assert_error(carol.post(f"conversations/{conv}/read"), 404, "not_found")


@pytest.mark.parametrize("conversation_id", ["987654321", str(2**63), "9" * 40])
def test_unknown_conversation_is_not_found(alice, conversation_id):
    assert_error(alice.get(f"conversations/{conversation_id}"), 404, "not_found")
    assert_error(alice.get(f"conversations/{conversation_id}/messages"), 404, "not_found")
    assert_error(alice.post(f"conversations/{conversation_id}/read"), 404, "not_found")


def test_an_idle_conversations_recent_window_expires_and_the_list_refills_it(alice, bob, settings):
    """Redis holds the windows of conversations in use; an expired one comes back from the database."""
    sent = alice.send(bob, "still here next month")
    window = store.recent_key(sent["conversation_id"])
    assert 0 < get_redis().ttl(window) <= settings.CHAT_RECENT_TTL_SECONDS
    get_redis().delete(window)  # what the expiry does
    [listed] = bob.get("conversations").json()["results"]
    assert listed["last_message"]["msg_id"] == sent["msg_id"]
    assert listed["last_message"]["content"] == "still here next month"
    assert 0 < get_redis().ttl(window) <= settings.CHAT_RECENT_TTL_SECONDS
