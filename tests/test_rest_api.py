"""The REST half of PROTOCOL.md, endpoint by endpoint, as a client sees it.

Every test talks HTTP to the real stack (MariaDB, Redis); users are made through
``auth/register``. Nobody here holds a WebSocket, so every user is offline and
every message they receive is an offline message too.
"""

import json
import time
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from .conftest import API, PASSWORD, ApiUser

MAX_SAFE_ID = 2**53
MESSAGE_KEYS = {
    "msg_id",
    "conversation_id",
    "sender_id",
    "recipient_id",
    "content",
    "client_msg_id",
    "created_at",
    "status",
}
PROFILE_KEYS = {"user_id", "username", "nickname", "avatar_url", "online"}
CONVERSATION_KEYS = {"conversation_id", "peer", "last_message", "unread"}


# --- helpers -------------------------------------------------------------------


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    """PROTOCOL.md's error shape: {"code", "detail"} plus {"errors": {field: [text]}} for validation."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict), body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if code == "validation_error":
        errors = body["errors"]
        assert isinstance(errors, dict) and errors, body
        for messages in errors.values():
            assert isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages), body
        if field is not None:
            assert field in errors, body
    return body


def assert_int_id(value) -> None:
    assert isinstance(value, int) and not isinstance(value, bool), value
    assert 0 < value < MAX_SAFE_ID, value


def assert_message(message: dict, **expected) -> dict:
    assert MESSAGE_KEYS <= set(message), message
    for name in ("msg_id", "conversation_id", "sender_id", "recipient_id"):
        assert_int_id(message[name])
    assert isinstance(message["content"], str)
    assert message["status"] in ("normal", "recalled")
    if message["status"] == "recalled":
        assert message["content"] == ""
    created_at = message["created_at"]
    assert created_at.endswith(("Z", "+00:00")), created_at
    datetime.fromisoformat(created_at)
    for name, value in expected.items():
        assert message[name] == value, (name, message)
    return message


def assert_profile(profile: dict, user: ApiUser | None = None, **expected) -> dict:
    assert PROFILE_KEYS <= set(profile), profile
    assert_int_id(profile["user_id"])
    assert isinstance(profile["online"], bool)
    assert isinstance(profile["avatar_url"], str)
    if user is not None:
        assert profile["user_id"] == user.id
        assert profile["username"] == user.username
    for name, value in expected.items():
        assert profile[name] == value, (name, profile)
    return profile


def assert_conversation(conversation: dict) -> dict:
    assert CONVERSATION_KEYS <= set(conversation), conversation
    assert_int_id(conversation["conversation_id"])
    assert_profile(conversation["peer"])
    assert_message(conversation["last_message"], conversation_id=conversation["conversation_id"])
    assert isinstance(conversation["unread"], int) and conversation["unread"] >= 0
    return conversation


def history(user: ApiUser, conversation_id: int, **params) -> dict:
    response = user.get(f"conversations/{conversation_id}/messages", params)
    assert response.status_code == 200, response.content
    page = response.json()
    assert isinstance(page["has_more"], bool)
    ids = [m["msg_id"] for m in page["results"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    for message in page["results"]:
        assert_message(message, conversation_id=conversation_id)
    return page


def history_ids(user: ApiUser, conversation_id: int, **params) -> list[int]:
    return [m["msg_id"] for m in history(user, conversation_id, **params)["results"]]


def conversation_ids(user: ApiUser, **params) -> list[int]:
    response = user.get("conversations", params)
    assert response.status_code == 200, response.content
    return [c["conversation_id"] for c in response.json()["results"]]


def unread(user: ApiUser) -> dict:
    response = user.get("unread")
    assert response.status_code == 200, response.content
    return response.json()


def offline(user: ApiUser) -> list[dict]:
    response = user.get("offline")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def raw_request(client, method: str, path: str, body: str | bytes = "", content_type: str = "application/json"):
    return client.generic(method, API + path, body, content_type=content_type)


def avoid_window_edge(period: int) -> None:
    """Rate limits count per fixed window; start a test well inside one."""
    if time.time() % period > period - 5:
        time.sleep(period - time.time() % period + 0.1)


def deactivate(user: ApiUser) -> None:
    account = get_user_model().objects.get(pk=user.id)
    account.is_active = False
    account.save()


BOB = "<bob's id>"  # in request bodies of table-driven tests: replaced by bob's user id


def with_bob(body, chat: dict):
    if isinstance(body, dict):
        return {k: chat["bob"].id if v == BOB else v for k, v in body.items()}
    return body


@pytest.fixture
def chat(alice, bob, carol):
    """alice -> bob: one message (the conversation exists); carol is a stranger to it."""
    message = alice.send(bob, "first")
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "conv": message["conversation_id"],
        "msg": message["msg_id"],
    }


# --- authentication ------------------------------------------------------------


def test_register_answers_user_id_and_a_working_token(anonymous, transactional_db):
    response = anonymous.post(
        API + "auth/register", {"username": "dora", "password": PASSWORD, "nickname": "Dora"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert_int_id(body["user_id"])
    assert isinstance(body["token"], str) and body["token"]
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    me = anonymous.get(API + "me")
    assert me.status_code == 200
    assert_profile(me.json(), user_id=body["user_id"], username="dora", nickname="Dora", avatar_url="", online=False)


def test_register_without_nickname_is_allowed(anonymous, transactional_db):
    response = anonymous.post(API + "auth/register", {"username": "eve", "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content


def test_register_duplicate_username_is_validation_error(alice, anonymous):
    response = anonymous.post(
        API + "auth/register", {"username": "alice", "password": PASSWORD, "nickname": "Other"}, format="json"
    )
    assert_error(response, 400, "validation_error", "username")


@pytest.mark.parametrize("password", ["123", "password", "12345678901234"])
def test_register_weak_password_is_validation_error(anonymous, transactional_db, password):
    response = anonymous.post(
        API + "auth/register", {"username": "frank", "password": password, "nickname": "F"}, format="json"
    )
    assert_error(response, 400, "validation_error", "password")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": PASSWORD, "nickname": "G"}, "username"),
        ({"username": "gina", "nickname": "G"}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": 12, "password": PASSWORD}, "username"),
        ({"username": "gina", "password": PASSWORD, "nickname": 5}, "nickname"),
        ({"username": "gina", "password": PASSWORD, "nickname": "n" * 65}, "nickname"),
        ({"username": "gina\ud800", "password": PASSWORD}, "username"),
        ({"username": "gina", "password": PASSWORD + "\udfff"}, "password"),
        ({"username": "gina", "password": PASSWORD, "nickname": "\ud83d"}, "nickname"),
    ],
)
def test_register_missing_or_bad_fields_are_validation_errors(anonymous, transactional_db, body, field):
    response = raw_request(anonymous, "POST", "auth/register", json.dumps(body))
    assert_error(response, 400, "validation_error", field)


def test_token_answers_the_user_and_a_working_token(alice, anonymous):
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_id"] == alice.id
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    assert anonymous.get(API + "me").json()["user_id"] == alice.id


@pytest.mark.parametrize("username, password", [("alice", "wrong-password-123"), ("nobody", PASSWORD), ("alice", "")])
def test_token_with_wrong_credentials_is_not_authenticated(alice, anonymous, username, password):
    response = anonymous.post(API + "auth/token", {"username": username, "password": password}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_token_for_a_deactivated_user_is_not_authenticated(alice, anonymous):
    deactivate(alice)
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "alice"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": 1, "password": PASSWORD}, "username"),
        ({"username": "alice\ud800", "password": PASSWORD}, "username"),
        ({"username": "alice", "password": "\ud800" + PASSWORD}, "password"),
    ],
)
def test_token_missing_or_malformed_fields_are_validation_errors(alice, anonymous, body, field):
    response = raw_request(anonymous, "POST", "auth/token", json.dumps(body))
    assert_error(response, 400, "validation_error", field)


def test_an_invalid_token_is_not_authenticated(alice, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert_error(anonymous.get(API + "me"), 401, "not_authenticated")


def test_a_deactivated_users_token_stops_working(alice):
    deactivate(alice)
    assert_error(alice.get("me"), 401, "not_authenticated")


def test_session_authentication_needs_csrf_for_writes(alice, bob):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(pk=alice.id))
    me = browser.get(API + "me")
    assert me.status_code == 200 and me.json()["user_id"] == alice.id

    body = {"to": bob.id, "content": "from the browser"}
    assert_error(browser.post(API + "messages", body, format="json"), 403, "forbidden")
    assert conversation_ids(bob) == []

    csrf = get_random_string(32)
    browser.cookies["csrftoken"] = csrf
    response = browser.post(API + "messages", body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    assert_message(response.json(), sender_id=alice.id, content="from the browser")


PROTECTED = [
    ("GET", "me"),
    ("PATCH", "me"),
    ("GET", "users/1"),
    ("GET", "users?q=a"),
    ("GET", "conversations"),
    ("GET", "conversations/1"),
    ("GET", "conversations/1/messages"),
    ("POST", "conversations/1/read"),
    ("POST", "messages"),
    ("DELETE", "messages/1"),
    ("GET", "unread"),
    ("GET", "offline"),
    ("POST", "offline/ack"),
    ("GET", "sync"),
]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize("method, path", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_other_endpoint_needs_credentials(anonymous, db, method, path, slash):
    base, _, query = path.partition("?")
    full = base + slash + ("?" + query if query else "")
    response = raw_request(anonymous, method, full, json.dumps({"to": 1, "content": "x"}))
    assert_error(response, 401, "not_authenticated")


# --- trailing slashes ----------------------------------------------------------


SLASH_CASES = [
    ("GET", "me", None, 200),
    ("PATCH", "me", {"nickname": "Al"}, 200),
    ("GET", "users/{bob}", None, 200),
    ("GET", "users?q=bo", None, 200),
    ("GET", "conversations", None, 200),
    ("GET", "conversations/{conv}", None, 200),
    ("GET", "conversations/{conv}/messages", None, 200),
    ("POST", "conversations/{conv}/read", {}, 200),
    ("POST", "messages", {"to": BOB, "content": "again"}, 201),
    ("DELETE", "messages/{msg}", None, 204),
    ("GET", "unread", None, 200),
    ("GET", "offline", None, 200),
    ("POST", "offline/ack", {"sender_id": BOB, "up_to": 1}, 204),
    ("GET", "sync", None, 200),
    ("POST", "auth/token", {"username": "alice", "password": PASSWORD}, 200),
]


@pytest.mark.parametrize("method, path, body, status", SLASH_CASES, ids=[f"{c[0]} {c[1]}" for c in SLASH_CASES])
def test_paths_work_with_and_without_trailing_slash(chat, method, path, body, status):
    alice, body = chat["alice"], with_bob(body, chat)
    base, _, query = path.format(**{k: getattr(v, "id", v) for k, v in chat.items()}).partition("?")
    answers = []
    for slash in ("", "/"):
        full = base + slash + ("?" + query if query else "")
        response = raw_request(alice.client, method, full, json.dumps(body) if body is not None else "")
        assert response.status_code == status, (full, response.status_code, response.content)
        if method == "GET":
            answer = response.json()
            answer.pop("next_since", None)  # moves with the clock
            answers.append(answer)
    if answers:
        assert answers[0] == answers[1]


def test_register_with_trailing_slash(anonymous, transactional_db):
    response = anonymous.post(API + "auth/register/", {"username": "hank", "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content


# --- me and users --------------------------------------------------------------


def test_me_is_the_own_profile(alice):
    response = alice.get("me")
    assert response.status_code == 200
    assert_profile(response.json(), alice, nickname="Alice", avatar_url="", online=False)


def test_patch_me_changes_nickname_and_avatar(alice):
    response = alice.patch("me", {"nickname": "Ally", "avatar_url": "https://example.com/a.png"})
    assert response.status_code == 200, response.content
    assert_profile(response.json(), alice, nickname="Ally", avatar_url="https://example.com/a.png")
    assert_profile(alice.get("me").json(), alice, nickname="Ally", avatar_url="https://example.com/a.png")
    # Only what is sent changes; an empty avatar_url unsets it.
    response = alice.patch("me", {"avatar_url": ""})
    assert_profile(response.json(), alice, nickname="Ally", avatar_url="")
    assert_profile(alice.patch("me", {}).json(), alice, nickname="Ally", avatar_url="")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"avatar_url": "not a url"}, "avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"avatar_url": 7}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 500}, "avatar_url"),
        ({"nickname": None}, "nickname"),
        ({"nickname": "n" * 65}, "nickname"),
        ({"nickname": "a\u0000b"}, "nickname"),
        ({"nickname": "half \ud83d"}, "nickname"),
        ({"avatar_url": "https://example.com/\udc4b.png"}, "avatar_url"),
    ],
)
def test_patch_me_rejects_bad_values(alice, body, field):
    # json.dumps escapes lone surrogates, so they reach the server as JSON sends them.
    assert_error(raw_request(alice.client, "PATCH", "me", json.dumps(body)), 400, "validation_error", field)
    assert_profile(alice.get("me").json(), alice, nickname="Alice", avatar_url="")


def test_patch_me_is_seen_by_other_users(alice, bob):
    # bob reads alice's profile first, so it sits in the profile cache.
    assert_profile(bob.get(f"users/{alice.id}").json(), alice, nickname="Alice", avatar_url="")
    alice.send(bob, "hi")
    assert bob.get("conversations").json()["results"][0]["peer"]["nickname"] == "Alice"

    alice.patch("me", {"nickname": "Queen A", "avatar_url": "https://example.com/q.png"})

    profile = bob.get(f"users/{alice.id}").json()
    assert_profile(profile, alice, nickname="Queen A", avatar_url="https://example.com/q.png")
    peer = bob.get("conversations").json()["results"][0]["peer"]
    assert_profile(peer, alice, nickname="Queen A", avatar_url="https://example.com/q.png")


def test_get_user_by_id(alice, bob):
    response = alice.get(f"users/{bob.id}")
    assert response.status_code == 200
    assert_profile(response.json(), bob, nickname="Bob", avatar_url="", online=False)


@pytest.mark.parametrize("user_id", ["0", "987654321", str(2**53 + 1), str(2**63), "9" * 40])
def test_unknown_user_is_not_found(alice, user_id):
    assert_error(alice.get(f"users/{user_id}"), 404, "not_found")


def test_user_search_is_a_case_insensitive_prefix_on_username_and_nickname(alice, bob, make_user):
    alfred = make_user("alfred", "Zed")
    zora = make_user("zora", "Alina")
    make_user("malia", "Mal")

    response = bob.get("users", {"q": "AL"})
    assert response.status_code == 200
    results = response.json()["results"]
    for profile in results:
        assert_profile(profile)
    assert {p["user_id"] for p in results} == {alice.id, alfred.id, zora.id}

    assert [p["user_id"] for p in bob.get("users", {"q": "zE"}).json()["results"]] == [alfred.id]
    # A substring that is not a prefix does not match.
    assert bob.get("users", {"q": "lic"}).json()["results"] == []


def test_user_search_answers_at_most_20(alice, make_user):
    for n in range(23):
        make_user(f"user{n:02d}", "")
    results = alice.get("users", {"q": "user"}).json()["results"]
    assert len(results) == 20
    assert all(p["username"].startswith("user") for p in results)
    assert len({p["user_id"] for p in results}) == 20


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


def test_message_ids_increase(alice, bob):
    ids = [alice.send(bob, f"m{n}")["msg_id"] for n in range(5)]
    ids.append(bob.send(alice, "reply")["msg_id"])
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


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


# --- conversations -------------------------------------------------------------


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


def test_unknown_query_parameters_are_ignored(alice, bob):
    sent = alice.send(bob, "hi")
    assert conversation_ids(alice, colour="blue", limit=5) == [sent["conversation_id"]]
    assert history_ids(alice, sent["conversation_id"], page="2", cursor="x") == [sent["msg_id"]]
    assert [m["msg_id"] for m in alice.get("sync", {"since": 0, "x": "y"}).json()["results"]] == [sent["msg_id"]]


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


# --- conversation history --------------------------------------------------------


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


# --- read and unread -----------------------------------------------------------


def test_mark_read_up_to_and_everything(alice, bob, carol):
    sent = [alice.send(bob, f"a{n}") for n in range(3)]
    with_alice = sent[0]["conversation_id"]
    with_carol = carol.send(bob, "c")["conversation_id"]
    assert unread(bob) == {"total": 4, "conversations": {str(with_alice): 3, str(with_carol): 1}}
    assert unread(alice) == {"total": 0, "conversations": {}}

    response = bob.post(f"conversations/{with_alice}/read", {"up_to": sent[1]["msg_id"]})
    assert response.status_code == 200
    assert response.json() == {"conversation_id": with_alice, "unread": 1}
    assert unread(bob) == {"total": 2, "conversations": {str(with_alice): 1, str(with_carol): 1}}

    response = bob.post(f"conversations/{with_carol}/read")
    assert response.json() == {"conversation_id": with_carol, "unread": 0}
    # Conversations with nothing unread are left out.
    assert unread(bob) == {"total": 1, "conversations": {str(with_alice): 1}}
    assert bob.get(f"conversations/{with_carol}").json()["unread"] == 0

    # Reading an older point again never raises the count back.
    response = bob.post(f"conversations/{with_alice}/read", {"up_to": sent[0]["msg_id"]})
    assert response.json() == {"conversation_id": with_alice, "unread": 1}
    response = bob.post(f"conversations/{with_alice}/read", {})
    assert response.json() == {"conversation_id": with_alice, "unread": 0}
    assert unread(bob) == {"total": 0, "conversations": {}}


def test_reading_own_messages_changes_nothing(alice, bob):
    sent = alice.send(bob, "mine")
    response = alice.post(f"conversations/{sent['conversation_id']}/read")
    assert response.json() == {"conversation_id": sent["conversation_id"], "unread": 0}
    assert unread(bob)["total"] == 1


@pytest.mark.parametrize("up_to", ["5", 1.5, True, -1, 2**70, [1]])
def test_mark_read_with_bad_up_to_is_validation_error(chat, up_to):
    response = chat["bob"].post(f"conversations/{chat['conv']}/read", {"up_to": up_to})
    assert_error(response, 400, "validation_error", "up_to")
    assert unread(chat["bob"])["total"] == 1


# --- offline -------------------------------------------------------------------


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


# --- sync ----------------------------------------------------------------------


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


# --- malformed input never answers 500 --------------------------------------------------


class Raw:
    """A request body sent as is, with its content type."""

    def __init__(self, text: str | bytes, content_type: str = "application/json") -> None:
        self.text, self.content_type = text, content_type

    def __repr__(self) -> str:
        return f"Raw({self.text!r}, {self.content_type!r})"


def case(method, path, body=None, status=400, code="validation_error", field=None, id=None):
    return pytest.param(method, path, body, status, code, field, id=id or f"{method} {path} {body!r}"[:80])


MALFORMED = [
    # Bodies that are not a JSON object.
    case("POST", "messages", Raw("{not json"), id="messages non-json"),
    case("POST", "messages", Raw('{"to": 1,'), id="messages truncated json"),
    case("POST", "messages", Raw("[" * 100_000 + "]" * 100_000), id="messages deeply nested json"),
    case("POST", "auth/register", Raw('{"a":' * 100_000 + "1" + "}" * 100_000), id="register deeply nested json"),
    case("POST", "messages", Raw('{"to": ' + "9" * 5000 + ', "content": "hi"}'), id="messages 5000-digit number"),
    case("POST", "messages", Raw('{"to": NaN, "content": "hi"}'), id="messages NaN"),
    case("POST", "messages", Raw("null"), field="to", id="messages json null"),
    case("POST", "messages", Raw(b"\xff\xfe garbage"), id="messages garbage bytes"),
    case("POST", "messages", [1, 2], field="non_field_errors", id="messages json list"),
    case("POST", "messages", "just a string", field="non_field_errors", id="messages json string"),
    case("POST", "messages", 42, field="non_field_errors", id="messages json number"),
    case("POST", "auth/register", Raw("{not json"), id="register non-json"),
    case("POST", "auth/register", ["alice"], id="register json list"),
    case("POST", "auth/token", Raw("nope"), id="token non-json"),
    case("POST", "auth/token", "alice", id="token json string"),
    case("PATCH", "me", Raw("{"), id="me non-json"),
    case("PATCH", "me", [{"nickname": "x"}], id="me json list"),
    case("POST", "conversations/{conv}/read", Raw("{oops"), id="read non-json"),
    case("POST", "conversations/{conv}/read", [1], id="read json list"),
    case("POST", "offline/ack", Raw("]"), id="ack non-json"),
    case("POST", "offline/ack", 3.5, id="ack json number"),
    # Not JSON at all.
    case(
        "POST", "messages", Raw("to=1&content=hi", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"
    ),
    case("POST", "messages", Raw("hello", "text/plain"), 415, "unsupported_media_type"),
    case(
        "POST", "auth/register", Raw("username=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"
    ),
    case("PATCH", "me", Raw("nickname=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
    # Wrong methods.
    case("PUT", "me", {"nickname": "x"}, 405, "method_not_allowed"),
    case("DELETE", "me", None, 405, "method_not_allowed"),
    case("GET", "messages", None, 405, "method_not_allowed"),
    case("PATCH", "messages/{msg}", {}, 405, "method_not_allowed"),
    case("POST", "unread", {}, 405, "method_not_allowed"),
    case("GET", "auth/register", None, 405, "method_not_allowed"),
    case("POST", "conversations", {}, 405, "method_not_allowed"),
    # `to`
    case("POST", "messages", {"to": str(2), "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2.0, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2.5, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": True, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": None, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": -1, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2**70, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": {"id": 2}, "content": "hi"}, field="to"),
    # content
    case("POST", "messages", {"to": BOB, "content": 5}, field="content"),
    case("POST", "messages", {"to": BOB, "content": ["hi"]}, field="content"),
    case("POST", "messages", {"to": BOB, "content": None}, field="content"),
    case("POST", "messages", {"to": BOB, "content": {"text": "hi"}}, field="content"),
    # client_msg_id
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": "x" * 65}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": ""}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": 7}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": ["a"]}, field="client_msg_id"),
    # up_to and other ids in bodies
    case("POST", "conversations/{conv}/read", {"up_to": "10"}, field="up_to"),
    case("POST", "offline/ack", {"sender_id": BOB, "up_to": "10"}, field="up_to"),
    case("POST", "offline/ack", {"sender_id": 2**80, "up_to": 1}, field="sender_id"),
    # Query parameters
    case("GET", "conversations?before=-1", field="before"),
    case("GET", "conversations?before=1e5", field="before"),
    case("GET", "conversations?before=%d" % 2**80, field="before"),
    case("GET", "conversations?limit=abc", field="limit"),
    case("GET", "conversations/{conv}/messages?before=-1", field="before"),
    case("GET", "conversations/{conv}/messages?after=1e5", field="after"),
    case("GET", "conversations/{conv}/messages?before=%d" % 2**80, field="before"),
    case("GET", "conversations/{conv}/messages?limit=%E2%91%A0", field="limit"),
    case("GET", "sync?since=%d" % 2**80, field="since"),
    case("GET", "sync?since=abc", field="since"),
    case("GET", "sync?since=" + "9" * 5000, field="since", id="sync 5000-digit since"),
    case("GET", "conversations?before=" + "9" * 5000, field="before", id="conversations 5000-digit before"),
    case("GET", "conversations/{conv}/messages?after=" + "9" * 5000, field="after", id="messages 5000-digit after"),
    case("GET", "users?q=%00", field="q"),
    # Unknown paths under /api/
    case("GET", "whatever", None, 404, "not_found"),
    case("POST", "whatever", {}, 404, "not_found"),
    case("GET", "users/abc", None, 404, "not_found"),
    case("GET", "conversations/-1", None, 404, "not_found"),
    case("DELETE", "messages/abc", None, 404, "not_found"),
    case("GET", "../whatever", None, 404, "not_found"),
]


@pytest.mark.parametrize("method, path, body, status, code, field", MALFORMED)
def test_malformed_input_answers_4xx_with_the_error_shape(chat, method, path, body, status, code, field):
    path = path.format(conv=chat["conv"], msg=chat["msg"])
    if isinstance(body, Raw):
        data, content_type = body.text, body.content_type
    else:
        body = with_bob(body, chat)
        data, content_type = ("" if body is None else json.dumps(body)), "application/json"
    response = raw_request(chat["alice"].client, method, path, data, content_type)
    assert_error(response, status, code, field)
    # Nothing was sent by any of these.
    assert history_ids(chat["bob"], chat["conv"]) == [chat["msg"]]


def test_unknown_api_path_is_json_not_found_without_credentials(anonymous, db):
    for path in ("/api/v1/whatever", "/api/v2/me", "/api/nothing/here/"):
        assert_error(anonymous.get(path), 404, "not_found")


# --- schema and docs -----------------------------------------------------------


PROTOCOL_OPERATIONS = {
    ("post", "auth/register"),
    ("post", "auth/token"),
    ("get", "me"),
    ("patch", "me"),
    ("get", "users/{user_id}"),
    ("get", "users"),
    ("get", "conversations"),
    ("get", "conversations/{conversation_id}"),
    ("get", "conversations/with/{user_id}"),
    ("get", "conversations/{conversation_id}/messages"),
    ("post", "messages"),
    ("delete", "messages/{msg_id}"),
    ("post", "conversations/{conversation_id}/read"),
    ("get", "unread"),
    ("get", "offline"),
    ("post", "offline/ack"),
    ("get", "sync"),
}
# The project's extensions (README: "Extensions to PROTOCOL.md").
EXTENSION_OPERATIONS = {("post", "me/avatar")}


def test_schema_lists_every_endpoint(anonymous, db):
    response = anonymous.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    served = {
        (method, path.removeprefix("/api/v1/"))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    # Exactly PROTOCOL.md's paths, written as it writes them (no trailing slash), and the extensions.
    expected = PROTOCOL_OPERATIONS | EXTENSION_OPERATIONS
    assert served == expected, served ^ expected
    operation_ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert anonymous.get("/api/schema").status_code == 200
    assert b"/api/v1/messages" in anonymous.get("/api/schema/").content


def test_docs_page_is_served(anonymous, db):
    response = anonymous.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert anonymous.get("/api/docs").status_code == 200


# --- rate limit ----------------------------------------------------------------


def test_the_send_rate_limit_answers_429_with_retry_after(alice, bob, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_SEND_RATE = (3, 60)
    avoid_window_edge(60)
    sent = [alice.send(bob, f"m{n}") for n in range(3)]

    response = alice.post("messages", {"to": bob.id, "content": "one too many"})
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert history(bob, sent[0]["conversation_id"])["results"] == sent
    # Other users have their own budget.
    assert bob.post("messages", {"to": alice.id, "content": "my turn"}).status_code == 201


def test_the_login_rate_limit_answers_429_with_retry_after(alice, anonymous, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (2, 60)
    avoid_window_edge(60)
    for password in ("wrong-password-1", PASSWORD):
        anonymous.post(API + "auth/token", {"username": "alice", "password": password}, format="json")
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    # Authenticated requests are not login attempts.
    assert alice.get("me").status_code == 200


def test_the_register_rate_limit_answers_429_with_retry_after(anonymous, transactional_db, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_REGISTER_RATE = (1, 60)
    avoid_window_edge(60)
    first = anonymous.post(API + "auth/register", {"username": "ivy", "password": PASSWORD}, format="json")
    assert first.status_code == 201
    response = anonymous.post(API + "auth/register", {"username": "jack", "password": PASSWORD}, format="json")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert not get_user_model().objects.filter(username="jack").exists()
