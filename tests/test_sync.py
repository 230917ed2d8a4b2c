"""GET sync: every sent and received message, in rev order (1.2), paged without gaps or repeats."""

import time

import pytest

from .helpers import assert_error, recall


@pytest.fixture
def traffic(alice, bob, carol, make_user):
    """Messages alice sent and received, and one she has nothing to do with."""
    dave = make_user("dave", "Dave")
    mine = [
        alice.send(bob, "a->b 1"),
        bob.send(alice, "b->a 1"),
        carol.send(alice, "c->a 1"),
    ]
    carol.send(dave, "c->d, not alice's")
    mine += [alice.send(carol, "a->c 1"), bob.send(alice, "b->a 2"), alice.send(bob, "a->b 2")]
    return mine


def test_sync_since_zero_returns_every_sent_and_received_message(alice, traffic):
    response = alice.get("sync", {"since": 0})
    assert response.status_code == 200
    page = response.json()
    assert page["results"] == traffic
    assert page["has_more"] is False
    assert isinstance(page["next_since"], int) and page["next_since"] >= 0
    assert alice.get("sync").json()["results"] == traffic


def test_sync_from_a_held_message(alice, traffic):
    page = alice.get("sync", {"since": traffic[2]["msg_id"]}).json()
    assert page["results"] == traffic[3:]
    page = alice.get("sync", {"since": traffic[-1]["msg_id"]}).json()
    assert page["results"] == [] and page["has_more"] is False


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_sync_continuation_misses_nothing(alice, traffic, limit, settings):
    # next_since never passes ids that may still be committing (younger than
    # the accept deadline); a short deadline keeps the catch-up short.
    settings.CHAT_ACCEPT_DEADLINE_SECONDS = 1
    held: dict[int, dict] = {}
    since = 0
    give_up = time.monotonic() + settings.CHAT_ACCEPT_DEADLINE_SECONDS + 10
    while True:
        assert time.monotonic() < give_up, "sync never reached has_more = false"
        page = alice.get("sync", {"since": since, "limit": limit}).json()
        assert len(page["results"]) <= limit
        ids = [m["msg_id"] for m in page["results"]]
        assert ids == sorted(ids) and all(i > since for i in ids)
        held.update({m["msg_id"]: m for m in page["results"]})
        assert isinstance(page["next_since"], int) and page["next_since"] >= since
        since = page["next_since"]
        if not page["has_more"]:
            break
        time.sleep(0.02)
    assert sorted(held.values(), key=lambda m: m["msg_id"]) == traffic


def test_sync_continues_from_a_held_msg_id(alice, traffic):
    """A client continuing from the largest msg_id it holds moves on page by page."""
    held = [traffic[0]]
    for _ in range(2 * len(traffic)):
        page = alice.get("sync", {"since": held[-1]["msg_id"], "limit": 2}).json()
        held += page["results"]
        if not page["has_more"]:
            break
    assert held == traffic


def test_sync_limit_is_clamped(alice, traffic):
    page = alice.get("sync", {"since": 0, "limit": 0}).json()
    assert len(page["results"]) == 1 and page["has_more"] is True
    page = alice.get("sync", {"since": 0, "limit": 5000}).json()
    assert page["results"] == traffic and page["has_more"] is False
    page = alice.get("sync", {"since": 0, "limit": "9" * 5000}).json()
    assert page["results"] == traffic and page["has_more"] is False


@pytest.mark.parametrize(
    "params, field",
    [({"since": "abc"}, "since"), ({"since": "-1"}, "since"), ({"since": "1e5"}, "since"), ({"limit": "x"}, "limit")],
)
def test_sync_malformed_parameters(alice, params, field):
    assert_error(alice.get("sync", params), 400, "validation_error", field)


def test_sync_in_small_pages_returns_every_message_once_in_order(alice, bob, carol):
    mine = [
        alice.send(bob, "a→b 1"),
        bob.send(alice, "b→a 1"),
        carol.send(alice, "c→a 1"),
        alice.send(carol, "a→c 1"),
    ]
    bob.send(carol, "not alice's")
    mine += [alice.send(bob, "a→b 2"), bob.send(alice, "b→a 2"), carol.send(alice, "c→a 2")]
    recall(alice, mine[0])
    expected = sorted(m["msg_id"] for m in mine)

    received: dict[int, dict] = {}
    since, calls = 0, 0
    while True:
        calls += 1
        assert calls < 100, "sync never finished"
        response = alice.get("sync", {"since": since, "limit": 2})
        assert response.status_code == 200, response.content
        page = response.json()
        # Version 1.2: pages go by rev (the recalled message has a new, larger one).
        ids = [m["msg_id"] for m in page["results"]]
        revs = [m["rev"] for m in page["results"]]
        assert revs == sorted(revs) and len(set(ids)) == len(ids)
        assert len(ids) <= 2
        assert all(r > since for r in revs)
        assert not set(ids) & set(received), "a message came twice"
        assert page["next_since"] == (revs[-1] if revs else since)
        for message in page["results"]:
            received[message["msg_id"]] = message
        since = page["next_since"]
        if not page["has_more"]:
            break
    assert sorted(received) == expected
    assert received[mine[0]["msg_id"]]["status"] == "recalled"
    assert received[mine[0]["msg_id"]]["content"] == ""
    tail = alice.get("sync", {"since": since}).json()
    assert tail == {"results": [], "has_more": False, "next_since": since}


# --- version 1.2: sync by rev ------------------------------------------------------


def test_new_message_has_rev_equal_to_msg_id(alice, bob):
    message = alice.send(bob, "hi")
    assert message["rev"] == message["msg_id"]
    assert alice.get("sync", {"since": 0}).json()["results"] == [message]


def test_recall_gives_a_larger_rev_and_a_later_sync_returns_it(alice, bob):
    """A recall made while the peer's device was away reaches that device's next sync."""
    first = alice.send(bob, "oops")
    second = bob.send(alice, "later")
    page = bob.get("sync", {"since": 0}).json()
    assert [m["msg_id"] for m in page["results"]] == [first["msg_id"], second["msg_id"]]
    since = page["next_since"]
    recall(alice, first)
    page = bob.get("sync", {"since": since}).json()
    [changed] = page["results"]
    assert changed["msg_id"] == first["msg_id"]
    assert changed["rev"] > second["msg_id"] and changed["rev"] > first["rev"]
    assert changed["status"] == "recalled" and changed["content"] == ""
    assert page["next_since"] == changed["rev"] and page["has_more"] is False
    assert bob.get("sync", {"since": page["next_since"]}).json()["results"] == []
    # The history shows the same state (one copy per msg_id, ordered by msg_id).
    conversation = first["conversation_id"]
    assert bob.get(f"conversations/{conversation}/messages").json()["results"][0] == changed


def test_sync_pages_follow_rev_across_changes(alice, bob, carol):
    sent = [alice.send(bob, f"m{i}") for i in range(4)] + [carol.send(alice, "c")]
    recall(alice, sent[1])
    recall(alice, sent[0])
    revs = []
    since = 0
    while True:
        page = alice.get("sync", {"since": since, "limit": 2}).json()
        revs += [m["rev"] for m in page["results"]]
        since = page["next_since"]
        if not page["has_more"]:
            break
    assert revs == sorted(revs) and len(revs) == len(sent)
    order = [m["msg_id"] for m in alice.get("sync", {"since": 0}).json()["results"]]
    assert order == [sent[2]["msg_id"], sent[3]["msg_id"], sent[4]["msg_id"], sent[1]["msg_id"], sent[0]["msg_id"]]


def test_sync_history_and_offline_give_the_times_as_the_message_itself_does(alice, bob):
    """The pages cut the times from the columns' text; the ack and pushes format a datetime: the same strings."""
    from datetime import UTC, datetime

    from messaging.models import MessageRecord

    sent = bob.send(alice, "what time is it?")
    edited = bob.send(alice, "this one was edited")
    # Microseconds past the last millisecond: cut, not rounded (as isoformat cuts them).
    MessageRecord.objects.filter(msg_id=sent["msg_id"]).update(created_at=datetime(2026, 3, 4, 5, 6, 7, 999999, UTC))
    MessageRecord.objects.filter(msg_id=edited["msg_id"]).update(
        created_at=datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC), edited_at=datetime(2026, 12, 31, 23, 59, 59, 500, UTC)
    )
    expected = {
        sent["msg_id"]: ("2026-03-04T05:06:07.999Z", None),
        edited["msg_id"]: ("2026-03-04T05:06:08.000Z", "2026-12-31T23:59:59.000Z"),
    }

    def times(messages: list[dict]) -> dict:
        return {m["msg_id"]: (m["created_at"], m["edited_at"]) for m in messages}

    assert times(alice.get("sync", {"since": 0}).json()["results"]) == expected
    history = alice.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert times(history) == expected
    offline = alice.get("offline").json()["results"]
    assert times([m for group in offline for m in group["messages"]]) == expected
