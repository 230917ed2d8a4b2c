"""Every REST endpoint once, with what the tests that go through all endpoints ask of each."""

# The schema lists exactly these (test_schema.py); each answers 401 without
# credentials and works with and without a trailing slash (test_api_edges.py).
# A new endpoint is one new row; a None cell says which of those tests leaves
# it out, and a comment says where that is tested instead.

from dataclasses import dataclass

from .conftest import PASSWORD
from .helpers import BOB


@dataclass(frozen=True)
class Call:
    """One request as alice in the ``chat`` fixture: {bob}, {conv}, {msg} are its ids, BOB in a body bob's."""

    path: str
    body: dict | None
    status: int


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as PROTOCOL.md and the served schema write it, under /api/v1/
    anonymous: str | None  # asked without credentials (any ids), it answers 401 not_authenticated
    slash: Call | None  # answers `status` with and without a trailing slash, the same body for a GET
    public: bool = False  # needs no credentials
    extension: bool = False  # not in PROTOCOL.md (README: "Extensions to PROTOCOL.md")


PUSH_SUBSCRIPTION = {
    "endpoint": "https://8.8.8.8/push/endpoints-py",
    "keys": {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg",
    },
}

ENDPOINTS = [
    # Public; a register makes a user, so its slash case is test_register_with_trailing_slash.
    Endpoint("POST", "auth/register", None, None, public=True),
    Endpoint(
        "POST", "auth/token", None, Call("auth/token", {"username": "alice", "password": PASSWORD}, 200), public=True
    ),
    Endpoint("GET", "me", "me", Call("me", None, 200)),
    Endpoint("PATCH", "me", "me", Call("me", {"nickname": "Al"}, 200)),
    # Multipart: credentials and trailing slash in test_avatars.py.
    Endpoint("POST", "me/avatar", None, None, extension=True),
    Endpoint("GET", "users/{user_id}", "users/1", Call("users/{bob}", None, 200)),
    Endpoint("GET", "users", "users?q=a", Call("users?q=bo", None, 200)),
    # PROTOCOL.md 1.2.
    Endpoint("PUT", "users/{user_id}/block", "users/1/block", Call("users/{bob}/block", None, 204)),
    Endpoint("DELETE", "users/{user_id}/block", "users/1/block", Call("users/{bob}/block", None, 204)),
    Endpoint("GET", "blocks", "blocks", Call("blocks", None, 200)),
    Endpoint("GET", "conversations", "conversations", Call("conversations", None, 200)),
    Endpoint("GET", "conversations/{conversation_id}", "conversations/1", Call("conversations/{conv}", None, 200)),
    # PROTOCOL.md 1.2.
    Endpoint(
        "PATCH",
        "conversations/{conversation_id}",
        "conversations/1",
        Call("conversations/{conv}", {"muted": True}, 200),
    ),
    # PROTOCOL.md 1.1: credentials in test_protocol_11.py (test_conversation_with_needs_credentials).
    Endpoint("GET", "conversations/with/{user_id}", None, None),
    Endpoint(
        "GET",
        "conversations/{conversation_id}/messages",
        "conversations/1/messages",
        Call("conversations/{conv}/messages", None, 200),
    ),
    Endpoint(
        "POST",
        "conversations/{conversation_id}/read",
        "conversations/1/read",
        Call("conversations/{conv}/read", {}, 200),
    ),
    Endpoint("POST", "messages", "messages", Call("messages", {"to": BOB, "content": "again"}, 201)),
    Endpoint("DELETE", "messages/{msg_id}", "messages/1", Call("messages/{msg}", None, 204)),
    # PROTOCOL.md 1.2.
    Endpoint("PATCH", "messages/{msg_id}", "messages/1", Call("messages/{msg}", {"content": "edited"}, 200)),
    Endpoint(
        "PUT",
        "messages/{msg_id}/reaction",
        "messages/1/reaction",
        Call("messages/{msg}/reaction", {"emoji": "👍"}, 200),
    ),
    Endpoint("DELETE", "messages/{msg_id}/reaction", "messages/1/reaction", Call("messages/{msg}/reaction", None, 200)),
    Endpoint("GET", "unread", "unread", Call("unread", None, 200)),
    Endpoint("GET", "offline", "offline", Call("offline", None, 200)),
    Endpoint("POST", "offline/ack", "offline/ack", Call("offline/ack", {"sender_id": BOB, "up_to": 1}, 204)),
    Endpoint("GET", "sync", "sync", Call("sync", None, 200)),
    # PROTOCOL.md 1.2, client conveniences.
    Endpoint("GET", "sync/position", "sync/position", Call("sync/position", None, 200)),
    # PROTOCOL.md 1.2, attachments: multipart and file bytes, so trailing slashes in test_attachments.py.
    Endpoint("POST", "attachments", "attachments", None),
    Endpoint("GET", "attachments/limits", "attachments/limits", Call("attachments/limits", None, 200), extension=True),
    Endpoint("GET", "attachments/{attachment_id}", "attachments/1", None),
    Endpoint("GET", "attachments/{attachment_id}/thumbnail", "attachments/1/thumbnail", None),
    # PROTOCOL.md 1.2.
    Endpoint("GET", "search", "search?q=a", Call("search?q=first", None, 200)),
    # PROTOCOL.md 1.2, Web Push (tests/test_webpush.py). 8.8.8.8: a public address needs no DNS here,
    # and nothing is ever pushed to it (no worker consumes the webpush queue in these tests).
    Endpoint("GET", "push/key", "push/key", Call("push/key", None, 200)),
    Endpoint("POST", "push/subscriptions", "push/subscriptions", Call("push/subscriptions", PUSH_SUBSCRIPTION, 201)),
    Endpoint(
        "DELETE",
        "push/subscriptions",
        "push/subscriptions",
        Call("push/subscriptions", {"endpoint": PUSH_SUBSCRIPTION["endpoint"]}, 204),
    ),
]

# (method, path) asked without credentials.
PROTECTED = [(e.method, e.anonymous) for e in ENDPOINTS if e.anonymous is not None]
# (method, path, body, status) asked with and without a trailing slash.
SLASH_CASES = [(e.method, e.slash.path, e.slash.body, e.slash.status) for e in ENDPOINTS if e.slash is not None]
# (method, path) as the schema lists them.
PROTOCOL_OPERATIONS = {(e.method.lower(), e.path) for e in ENDPOINTS if not e.extension}
EXTENSION_OPERATIONS = {(e.method.lower(), e.path) for e in ENDPOINTS if e.extension}
# (method, schema path) that answer without credentials.
PUBLIC = {(e.method.lower(), "/api/v1/" + e.path) for e in ENDPOINTS if e.public}
