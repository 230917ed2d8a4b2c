"""Helpers shared by the REST and consistency tests: PROTOCOL.md's shapes, requests, recounts from the database."""

import time
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from conversations.models import Conversation
from messaging.models import MessageRecord

from .conftest import API, ApiUser, clear_redis

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


# --- what a client sees: PROTOCOL.md's shapes ----------------------------------


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


# --- requests ------------------------------------------------------------------


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


# --- what users see against what the database holds ----------------------------


def flush_redis() -> None:
    """Redis restarts empty: the data keys only (the broker keeps its queues)."""
    clear_redis([settings.CHAT_REDIS_URL])


def conversation_ids_of(user: ApiUser) -> list[int]:
    return list(
        Conversation.objects.filter(Q(user_low_id=user.id) | Q(user_high_id=user.id), last_msg_id__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def recount(user: ApiUser, conversation_id: int) -> int:
    """The truth: the user's received messages in the conversation that are not read."""
    return MessageRecord.objects.filter(recipient_id=user.id, session_id=conversation_id, is_read=False).count()


def all_conversations(user: ApiUser) -> list[dict]:
    response = user.get("conversations", {"limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next_before"] is None
    return body["results"]


def assert_unread_matches_database(*users: ApiUser) -> None:
    for user in users:
        truth = {cid: recount(user, cid) for cid in conversation_ids_of(user)}
        nonzero = {str(cid): n for cid, n in truth.items() if n}
        summary = user.get("unread").json()
        assert summary == {"total": sum(nonzero.values()), "conversations": nonzero}, (user.username, truth)
        listed = {c["conversation_id"]: c["unread"] for c in all_conversations(user)}
        assert listed == truth, (user.username, truth)
        for cid, n in truth.items():
            assert n >= 0
            assert user.get(f"conversations/{cid}").json()["unread"] == n


def read(user: ApiUser, conversation_id: int, up_to: int | None = None) -> int:
    body = {} if up_to is None else {"up_to": up_to}
    response = user.post(f"conversations/{conversation_id}/read", body)
    assert response.status_code == 200, response.content
    assert response.json()["conversation_id"] == conversation_id
    return response.json()["unread"]


def recall(user: ApiUser, message: dict) -> None:
    response = user.delete(f"messages/{message['msg_id']}")
    assert response.status_code == 204, response.content


def snapshot(users: list[ApiUser]) -> dict:
    """What each user sees: conversation pages (walked with next_before), unread and offline."""
    seen = {}
    for user in users:
        full = user.get("conversations").json()
        pages, before = [], None
        while True:
            params = {"limit": 2} if before is None else {"limit": 2, "before": before}
            page = user.get("conversations", params).json()
            pages.append(page)
            before = page["next_before"]
            if before is None:
                break
        seen[user.username] = {
            "conversations": full,
            "pages": pages,
            "unread": user.get("unread").json(),
            "offline": user.get("offline").json(),
        }
    return seen
