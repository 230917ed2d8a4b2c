"""Messages over REST: sending (client_msg_id, content rules), conversation history, recall."""

import json
import time

import pytest

from .helpers import (
    assert_error,
    assert_message,
    conversation_ids,
    deactivate,
    history,
    history_ids,
    offline,
    raw_request,
    unread,
)

# --- sending messages ----------------------------------------------------------


def test_send_answers_201_with_the_message(alice, bob):
    response = alice.post("messages", {"to": bob.id, "content": "hi 👋", "client_msg_id": "c-1"})
    assert response.status_code == 201, response.content
    message = assert_message(
        response.json(), sender_id=alice.id, recipient_id=bob.id, content="hi 👋", client_msg_id="c-1", status="normal"
    )
    # Both users see the same conversation, and the message in it.
    assert conversation_ids(alice) == conversation_ids(bob) == [message["conversation_id"]]
    assert history(bob, message["conversation_id"])["results"] == [message]


def test_same_client_msg_id_again_answers_200_with_the_first_message(alice, bob):
    first = alice.send(bob, "original", client_msg_id="retry-me")
    conversation_id = first["conversation_id"]

    for content in ("original", "a different text"):
        response = alice.post("messages", {"to": bob.id, "content": content, "client_msg_id": "retry-me"})
        assert response.status_code == 200, response.content
        assert response.json() == first

    assert history(alice, conversation_id)["results"] == [first]
    assert unread(bob)["total"] == 1
    assert [m["msg_id"] for g in offline(bob) for m in g["messages"]] == [first["msg_id"]]
    sync = bob.get("sync", {"since": 0}).json()
    assert [m["msg_id"] for m in sync["results"]] == [first["msg_id"]]


def test_client_msg_id_is_per_sender(alice, bob):
    from_alice = alice.send(bob, "from alice", client_msg_id="shared-id")
    response = bob.post("messages", {"to": alice.id, "content": "from bob", "client_msg_id": "shared-id"})
    assert response.status_code == 201
    assert_message(response.json(), sender_id=bob.id, content="from bob")
    assert response.json()["msg_id"] != from_alice["msg_id"]


@pytest.mark.parametrize(
    "first_id, second_id",
    [("Retry-Id", "retry-id"), ("abc", "abc "), ("e" * 64, "é" * 64), ("straße", "strasse")],
    ids=["case", "trailing-space", "accent", "folding"],
)
def test_client_msg_ids_are_compared_exactly(alice, bob, first_id, second_id):
    """Two different strings are two different client_msg_ids: neither send is lost."""
    first = alice.send(bob, "first", client_msg_id=first_id)
    response = alice.post("messages", {"to": bob.id, "content": "second", "client_msg_id": second_id})
    assert response.status_code == 201, response.content
    second = assert_message(response.json(), content="second", client_msg_id=second_id)
    assert second["msg_id"] != first["msg_id"]
    assert [m["content"] for m in history(bob, first["conversation_id"])["results"]] == ["first", "second"]
    # Each still deduplicates against itself.
    for message in (first, second):
        again = alice.post("messages", {"to": bob.id, "content": "x", "client_msg_id": message["client_msg_id"]})
        assert (again.status_code, again.json()) == (200, message)


def test_send_without_client_msg_id_is_not_deduplicated(alice, bob):
    first = alice.send(bob, "same")
    second = alice.send(bob, "same")
    assert first["msg_id"] != second["msg_id"]
    assert len(history(bob, first["conversation_id"])["results"]) == 2


def test_send_to_yourself_is_validation_error(alice):
    assert_error(alice.post("messages", {"to": alice.id, "content": "me"}), 400, "validation_error", "to")
    assert conversation_ids(alice) == []


def test_send_to_unknown_user_is_not_found(alice):
    assert_error(alice.post("messages", {"to": 987654321, "content": "anyone?"}), 404, "not_found")
    assert_error(alice.post("messages", {"to": 2**53 - 1, "content": "anyone?"}), 404, "not_found")


def test_send_to_deactivated_user_is_not_found(alice, bob):
    deactivate(bob)
    assert_error(alice.post("messages", {"to": bob.id, "content": "still there?"}), 404, "not_found")
    assert conversation_ids(alice) == []


def test_send_missing_fields_is_validation_error(alice, bob):
    assert_error(alice.post("messages", {"content": "to whom?"}), 400, "validation_error", "to")
    assert_error(alice.post("messages", {"to": bob.id}), 400, "validation_error", "content")


@pytest.mark.parametrize(
    "content",
    ["", " ", "  \n\t ", "\u3000\u2003", "x" * 4001, "👋" * 4001, "a\u0000b", "\u0000", "bad \ud800 half"],
    ids=["empty", "space", "whitespace", "unicode-space", "4001", "4001-emoji", "nul", "only-nul", "surrogate"],
)
def test_bad_content_is_validation_error(alice, bob, content):
    response = raw_request(alice.client, "POST", "messages", json.dumps({"to": bob.id, "content": content}))
    assert_error(response, 400, "validation_error", "content")
    assert conversation_ids(bob) == []


@pytest.mark.parametrize(
    "content",
    [
        "x" * 4000,
        "👋" * 4000,
        "  padded  \n",
        "\t tabs and\r\nnewlines \t",
        "日本語 é ñ 👨‍👩‍👧 \u200b",
        "<b>&amp;</b>",
        ".",
    ],
    ids=["4000", "4000-emoji", "padded", "whitespace-around", "unicode", "html", "dot"],
)
def test_content_is_stored_and_returned_exactly(alice, bob, content):
    sent = alice.send(bob, content)
    assert sent["content"] == content
    assert history(bob, sent["conversation_id"])["results"][-1]["content"] == content
    assert bob.get("conversations").json()["results"][0]["last_message"]["content"] == content


# --- conversation history ------------------------------------------------------


@pytest.fixture
def five(alice, bob):
    """Five messages alternating between alice and bob: (conversation_id, [msg_id ascending])."""
    sent = []
    for n in range(5):
        sender, recipient = (alice, bob) if n % 2 == 0 else (bob, alice)
        sent.append(sender.send(recipient, f"m{n}"))
    return sent[0]["conversation_id"], [m["msg_id"] for m in sent]


def test_history_is_ascending_and_without_cursor_the_newest(alice, bob, five):
    conversation_id, ids = five
    page = history(alice, conversation_id)
    assert [m["msg_id"] for m in page["results"]] == ids
    assert [m["content"] for m in page["results"]] == ["m0", "m1", "m2", "m3", "m4"]
    assert page["has_more"] is False
    assert history(bob, conversation_id)["results"] == page["results"]

    page = history(alice, conversation_id, limit=2)
    assert [m["msg_id"] for m in page["results"]] == ids[3:]
    assert page["has_more"] is True


def test_history_pages_backwards_with_before(alice, five):
    conversation_id, ids = five
    page = history(alice, conversation_id, limit=2, before=ids[3])
    assert ([m["msg_id"] for m in page["results"]], page["has_more"]) == (ids[1:3], True)
    page = history(alice, conversation_id, limit=2, before=ids[1])
    assert ([m["msg_id"] for m in page["results"]], page["has_more"]) == (ids[:1], False)
    assert history(alice, conversation_id, before=ids[0]) == {"results": [], "has_more": False}


def test_history_pages_forwards_with_after(alice, five):
    conversation_id, ids = five
    page = history(alice, conversation_id, limit=2, after=0)
    assert ([m["msg_id"] for m in page["results"]], page["has_more"]) == (ids[:2], True)
    page = history(alice, conversation_id, limit=2, after=ids[1])
    assert ([m["msg_id"] for m in page["results"]], page["has_more"]) == (ids[2:4], True)
    page = history(alice, conversation_id, limit=2, after=ids[3])
    assert ([m["msg_id"] for m in page["results"]], page["has_more"]) == (ids[4:], False)
    assert history(alice, conversation_id, after=ids[4]) == {"results": [], "has_more": False}


def test_history_limit_is_clamped(alice, bob):
    conversation_id = alice.send(bob, "0")["conversation_id"]
    for n in range(1, 102):
        alice.send(bob, str(n))
    assert len(history_ids(alice, conversation_id)) == 50
    assert len(history_ids(alice, conversation_id, limit=0)) == 1
    page = history(alice, conversation_id, limit=1000)
    assert len(page["results"]) == 100 and page["has_more"] is True
    assert page["results"][-1]["content"] == "101"
    # Any numeric limit is clamped, however many digits it has.
    assert len(history_ids(alice, conversation_id, limit="9" * 5000)) == 100
    assert len(history_ids(alice, conversation_id, limit="-" + "9" * 5000)) == 1


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "abc"}, "limit"),
        ({"before": "abc"}, "before"),
        ({"after": "-1"}, "after"),
        ({"before": "1", "after": "1"}, "non_field_errors"),
    ],
)
def test_history_malformed_parameters(chat, params, field):
    response = chat["alice"].get(f"conversations/{chat['conv']}/messages", params)
    assert_error(response, 400, "validation_error", field)


# --- recall --------------------------------------------------------------------


def test_sender_recalls_within_the_window(alice, bob):
    kept = alice.send(bob, "keep")
    gone = alice.send(bob, "oops")
    conversation_id = gone["conversation_id"]

    response = alice.delete(f"messages/{gone['msg_id']}")
    assert response.status_code == 204
    assert response.content == b""

    for user in (alice, bob):
        results = history(user, conversation_id)["results"]
        assert results[0] == kept
        assert_message(results[1], msg_id=gone["msg_id"], status="recalled", content="")
        last = user.get(f"conversations/{conversation_id}").json()["last_message"]
        assert_message(last, msg_id=gone["msg_id"], status="recalled", content="")
    synced = bob.get("sync", {"since": 0}).json()["results"]
    assert [(m["msg_id"], m["status"], m["content"]) for m in synced] == [
        (kept["msg_id"], "normal", "keep"),
        (gone["msg_id"], "recalled", ""),
    ]

    # Recalling again is fine, and changes nothing.
    assert alice.delete(f"messages/{gone['msg_id']}").status_code == 204
    assert history(bob, conversation_id)["results"][1]["status"] == "recalled"


def test_recalling_an_unread_message_lowers_the_unread_count(alice, bob):
    alice.send(bob, "one")
    gone = alice.send(bob, "two")
    conversation_id = gone["conversation_id"]
    assert unread(bob) == {"total": 2, "conversations": {str(conversation_id): 2}}

    assert alice.delete(f"messages/{gone['msg_id']}").status_code == 204
    assert unread(bob) == {"total": 1, "conversations": {str(conversation_id): 1}}
    assert bob.get(f"conversations/{conversation_id}").json()["unread"] == 1
    # Recalling a message already read leaves the count alone.
    bob.post(f"conversations/{conversation_id}/read")
    read_one = alice.send(bob, "three")
    bob.post(f"conversations/{conversation_id}/read")
    assert alice.delete(f"messages/{read_one['msg_id']}").status_code == 204
    assert unread(bob) == {"total": 0, "conversations": {}}


def test_recipient_cannot_recall(chat):
    assert_error(chat["bob"].delete(f"messages/{chat['msg']}"), 403, "forbidden")
    assert history(chat["bob"], chat["conv"])["results"][0]["status"] == "normal"


def test_stranger_recall_is_not_found(chat):
    assert_error(chat["carol"].delete(f"messages/{chat['msg']}"), 404, "not_found")
    assert history(chat["bob"], chat["conv"])["results"][0]["status"] == "normal"


@pytest.mark.parametrize("msg_id", ["987654321", str(2**63), "9" * 40])
def test_recall_unknown_message_is_not_found(alice, msg_id):
    assert_error(alice.delete(f"messages/{msg_id}"), 404, "not_found")


def test_recall_too_late_is_forbidden(alice, bob, settings):
    settings.CHAT_RECALL_WINDOW_SECONDS = 0
    sent = alice.send(bob, "too late to take back")
    time.sleep(1.1)
    assert_error(alice.delete(f"messages/{sent['msg_id']}"), 403, "forbidden")
    assert history(bob, sent["conversation_id"])["results"] == [sent]
