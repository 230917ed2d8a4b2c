"""OpenAPI schema pieces shared by every app (drf-spectacular).

The views describe their operations with ``extend_schema``; this module gives
them the one Error component, the error answers each kind of operation can
give (``answers``), typed path and query parameters, and the post-processing
hook that writes paths as PROTOCOL.md does. The client guide in prose is
docs/api.md; the WebSocket half, which OpenAPI cannot describe, is
docs/websocket.md (linked from the schema's description).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .limits import MAX_CLIENT_MSG_ID, MAX_CONTENT_CODE_POINTS, MAX_ID

# Every id (and every cursor) is below 2^53 (PROTOCOL.md "Identifiers").


class ReplyToSerializer(serializers.Serializer):
    """The message a reply quotes, as it is now (version 1.2)."""

    msg_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    sender_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    preview = serializers.CharField(
        allow_blank=True, max_length=100, help_text='the first 100 code points of its current content; "" once recalled'
    )
    status = serializers.ChoiceField(choices=["normal", "recalled"])

    class Meta:
        ref_name = "ReplyTo"


class ReactionSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    emoji = serializers.CharField(max_length=8)

    class Meta:
        ref_name = "MessageReaction"


# PROTOCOL.md 1.2's Attachment: the answer of an upload, and (with the send
# path) part of every Message, so it lives on the ground floor beside it.
class AttachmentSerializer(serializers.Serializer):
    attachment_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = serializers.CharField(max_length=255, help_text="the uploaded file's name, without any path")
    size = serializers.IntegerField(min_value=1, help_text="bytes served at `url`")
    content_type = serializers.CharField(
        help_text="image/jpeg, image/png or image/webp for an image; application/octet-stream for a file"
    )
    kind = serializers.ChoiceField(choices=["image", "file"], help_text="decided by the bytes, never by the name")
    width = serializers.IntegerField(min_value=1, allow_null=True, help_text="pixels; null for a file")
    height = serializers.IntegerField(min_value=1, allow_null=True, help_text="pixels; null for a file")
    url = serializers.CharField(help_text="`/api/v1/attachments/<attachment_id>`")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="at most 320 px a side; null for a file")


# PROTOCOL.md's Message: the answer of several apps (a conversation's last
# message, history, sync, offline, send), so it lives on the ground floor.
class MessageSerializer(serializers.Serializer):
    msg_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="unique, increases with time")
    # Version 1.2.
    rev = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="the message's revision, from the msg_id space: msg_id when new, a fresh larger one on every "
        "recall, edit or reaction change (version 1.2); sync pages by it",
    )
    conversation_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    sender_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    recipient_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    content = serializers.CharField(
        allow_blank=True,
        max_length=MAX_CONTENT_CODE_POINTS,
        help_text='exactly as sent; "" when recalled, and may be "" with attachments',
    )
    client_msg_id = serializers.CharField(
        allow_null=True, max_length=MAX_CLIENT_MSG_ID, help_text="null when the sender gave none"
    )
    created_at = serializers.DateTimeField(help_text="UTC")
    status = serializers.ChoiceField(choices=["normal", "recalled"])
    # Version 1.1.
    recalled_by = serializers.ChoiceField(
        choices=["sender", "moderator"],
        allow_null=True,
        help_text="who recalled it; null unless status is recalled (version 1.1)",
    )
    edited_at = serializers.DateTimeField(
        allow_null=True, help_text="UTC; when the sender last edited the content, null if never (version 1.2)"
    )
    reply_to = ReplyToSerializer(allow_null=True, help_text="the message this one quotes; null if none (version 1.2)")
    reactions = ReactionSerializer(
        many=True, help_text="one per user at most, ordered by user_id; [] once recalled (version 1.2)"
    )
    attachments = AttachmentSerializer(
        many=True, help_text="the files sent with it, in upload order; [] when none and once recalled (version 1.2)"
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every answer that is not a success (component ``Error``)."""

    code = serializers.CharField(
        help_text="Machine code: validation_error, not_authenticated, forbidden, not_found, "
        "method_not_allowed, not_acceptable, payload_too_large, unsupported_media_type, "
        "rate_limited, unavailable, server_error."
    )
    detail = serializers.CharField(help_text="Human text; do not parse it.")
    # A field named like Serializer.errors: DRF's metaclass moves it into _declared_fields.
    errors = serializers.DictField(  # type: ignore[assignment]  # stubs see the property
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only with validation_error: messages per field; errors not tied to one field "
        "are under non_field_errors.",
    )

    class Meta:
        ref_name = "Error"


def _error(status: int, code: str, description: str, detail: str, errors: dict | None = None) -> OpenApiResponse:
    value: dict = {"code": code, "detail": detail}
    if errors is not None:
        value["errors"] = errors
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(code, value=value, status_codes=[status], response_only=True)],
    )


def answers(
    success: dict[int, OpenApiResponse | type | None],
    *,
    auth: bool = True,
    body: bool = False,
    query: bool = False,
    not_found: str | None = None,
    forbidden: str | None = None,
    rate_limited: str | None = None,
    invalid: str | None = None,
    invalid_errors: dict[str, list[str]] | None = None,
    unauthenticated: str | None = None,
) -> dict:
    """Every answer of one operation: ``success`` plus the errors it can give.

    ``auth``: needs a token or session (401; with a body also 403, when a
    session request lacks its CSRF token). ``body``: takes a JSON body (400,
    413, 415). ``query``: takes query parameters that can be malformed (400).
    The strings describe when the operation gives that error (``unauthenticated``:
    a 401 of an operation open to anonymous clients). Every operation
    can answer 405 (another method on its path), 406 (an Accept header that
    excludes JSON) and 503 (the database or Redis did not answer in time).
    """
    result: dict = dict(success)
    if body or query or invalid:
        reason = invalid or ("The body or a query parameter is invalid." if body else "A query parameter is malformed.")
        result[400] = _error(
            400,
            "validation_error",
            f"validation_error: {reason} `errors` says which field, and why.",
            "Invalid input.",
            invalid_errors
            or ({"non_field_errors": ["Expected a JSON object."]} if body else {"limit": ["Must be an integer."]}),
        )
    if auth or unauthenticated:
        result[401] = _error(
            401,
            "not_authenticated",
            "not_authenticated: "
            + (unauthenticated or "no valid `Authorization: Token <key>` header (or session cookie)."),
            "Wrong username or password." if unauthenticated else "Authentication credentials were not provided.",
        )
    if forbidden or (auth and body):
        reason = forbidden or "A session (cookie) request without a valid CSRF token."
        result[403] = _error(403, "forbidden", f"forbidden: {reason}", "You do not have permission to do this.")
    if not_found:
        result[404] = _error(404, "not_found", f"not_found: {not_found}", "Not found.")
    result[405] = _error(
        405,
        "method_not_allowed",
        "method_not_allowed: this path does not serve that method.",
        'Method "PUT" not allowed.',
    )
    result[406] = _error(
        406,
        "not_acceptable",
        "not_acceptable: the Accept header excludes application/json.",
        "Could not satisfy the request Accept header.",
    )
    if body:
        result[413] = _error(
            413, "payload_too_large", "payload_too_large: the request body is too large.", "Request body too large."
        )
        result[415] = _error(
            415,
            "unsupported_media_type",
            "unsupported_media_type: the body is not `Content-Type: application/json`.",
            'Unsupported media type "text/plain" in request.',
        )
    if rate_limited:
        result[429] = _error(
            429,
            "rate_limited",
            f"rate_limited: {rate_limited} Wait `Retry-After` seconds before trying again.",
            "Too many requests; try again in 12 s.",
        )
    result[503] = _error(
        503,
        "unavailable",
        "unavailable: the database or Redis could not serve the request in time; nothing was changed "
        "(a send was not accepted); try again.",
        "The server could not accept this right now; try again.",
    )
    return result


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    required=True,
    description="Seconds to wait before the next attempt.",
    response=[429],
)


def ok(serializer, description: str, example: object, name: str = "answer") -> OpenApiResponse:
    """A success answer with its example."""
    return OpenApiResponse(
        serializer, description=description, examples=[OpenApiExample(name, value=example, response_only=True)]
    )


def id_param(name: str, description: str) -> OpenApiParameter:
    """An integer id in the path (the route accepts digits only)."""
    return OpenApiParameter(
        name,
        {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        required=True,
        description=description,
    )


def cursor_param(name: str, description: str) -> OpenApiParameter:
    """A msg_id cursor in the query: 0..2^53-1; anything else is a validation_error."""
    return OpenApiParameter(
        name, {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID}, description=description
    )


def limit_param(default: int, maximum: int) -> OpenApiParameter:
    return OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
        description=f"Page size, default {default}. A number outside 1..{maximum} is clamped into that "
        "range; a non-number is a validation_error.",
    )


# Examples shared by several operations (PROTOCOL.md's objects, version 1.1).
PROFILE_EXAMPLE = {
    "user_id": 7,
    "username": "alice",
    "nickname": "Alice",
    "avatar_url": "https://example.com/alice.png",
    "online": True,
    "is_active": True,
    "last_seen": None,
    "blocked": False,
}
PEER_EXAMPLE = {
    "user_id": 9,
    "username": "bob",
    "nickname": "Bob",
    "avatar_url": "",
    "online": False,
    "is_active": True,
    "last_seen": "2026-11-27T17:55:02.018Z",
    "blocked": False,
}
MESSAGE_EXAMPLE = {
    "msg_id": 1042317261824,
    "rev": 1042317261824,
    "conversation_id": 45,
    "sender_id": 7,
    "recipient_id": 9,
    "content": "hi 👋",
    "client_msg_id": "5f0c9a7e-1c1e-4d55-9d0e-3f9b1a2c4d5e",
    "created_at": "2026-11-27T18:00:00.123Z",
    "status": "normal",
    "recalled_by": None,
    "edited_at": None,
    "reply_to": None,
    "reactions": [],
    "attachments": [],
}
CONVERSATION_EXAMPLE = {
    "conversation_id": 45,
    "peer": PEER_EXAMPLE,
    "last_message": MESSAGE_EXAMPLE,
    "unread": 0,
    "peer_read_up_to": 1042317261824,
    "blocked": False,
    "muted": False,
    "pinned": False,
    "archived": False,
}


def strip_trailing_slashes(result: dict, generator, request, public) -> dict:
    """Every route accepts both forms (``/?$``); the schema names the one PROTOCOL.md uses."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result.get("paths", {}).items()}
    return result


ATTACHMENT_EXAMPLE = {
    "attachment_id": 55,
    "name": "photo.jpg",
    "size": 183211,
    "content_type": "image/jpeg",
    "kind": "image",
    "width": 1280,
    "height": 960,
    "url": "/api/v1/attachments/55",
    "thumbnail_url": "/api/v1/attachments/55/thumbnail",
}
FILE_ATTACHMENT_EXAMPLE = {
    "attachment_id": 56,
    "name": "minutes.pdf",
    "size": 48213,
    "content_type": "application/octet-stream",
    "kind": "file",
    "width": None,
    "height": None,
    "url": "/api/v1/attachments/56",
    "thumbnail_url": None,
}
