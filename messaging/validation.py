"""Checks on a message clients send, shared by REST and WebSocket (PROTOCOL.md)."""

import string
import unicodedata

from chat_project.common.errors import InvalidInput
from chat_project.common.limits import MAX_CLIENT_MSG_ID, MAX_CONTENT_CODE_POINTS, MAX_FRAME_REF, MAX_ID
from chat_project.common.text import has_unpaired_surrogate


def _has_bad_code_point(text: str) -> bool:
    return "\x00" in text or has_unpaired_surrogate(text)


def check_content(content: object, *, may_be_empty: bool = False) -> str:
    """``may_be_empty``: "" passes (a send with attachments, PROTOCOL.md 1.2); white space alone never does."""
    if not isinstance(content, str):
        raise InvalidInput.field("content", "Must be a string.")
    if content == "" and may_be_empty:
        return content
    if not content or content.isspace():
        raise InvalidInput.field("content", "The message is empty.")
    if len(content) > MAX_CONTENT_CODE_POINTS:
        raise InvalidInput.field("content", f"At most {MAX_CONTENT_CODE_POINTS} characters.")
    if _has_bad_code_point(content):
        raise InvalidInput.field("content", "U+0000 and unpaired surrogates are not allowed.")
    return content


# PROTOCOL.md 1.2: attachments per message.
MAX_ATTACHMENTS = 10


def check_attachment_ids(field: str, value: object) -> tuple[int, ...]:
    """A send's ``attachments``: a JSON array of at most 10 distinct ids (who owns them: the send batch)."""
    if not isinstance(value, list) or any(type(item) is not int or not 1 <= item <= MAX_ID for item in value):
        raise InvalidInput.field(field, "Must be an array of attachment ids.")
    if len(value) > MAX_ATTACHMENTS:
        raise InvalidInput.field(field, f"At most {MAX_ATTACHMENTS} attachments per message.")
    if len(set(value)) != len(value):
        raise InvalidInput.field(field, "An attachment may appear once.")
    return tuple(value)


# ASCII punctuation: no emoji is made of it (PROTOCOL.md 1.2 reactions).
_ASCII_PUNCTUATION = frozenset(string.punctuation)
MAX_EMOJI_CODE_POINTS = 8


def check_emoji(value: object) -> str:
    """1..8 code points with no letter, digit, ASCII punctuation, white space or control character."""
    if not isinstance(value, str):
        raise InvalidInput.field("emoji", "Must be a string.")
    if not 1 <= len(value) <= MAX_EMOJI_CODE_POINTS:
        raise InvalidInput.field("emoji", f"An emoji is 1 to {MAX_EMOJI_CODE_POINTS} code points.")
    for ch in value:
        category = unicodedata.category(ch)
        if (
            category[0] == "L"
            or category == "Nd"
            or category in ("Cc", "Cs")
            or ch.isspace()
            or ch in _ASCII_PUNCTUATION
        ):
            raise InvalidInput.field("emoji", "Not an emoji: letters, digits, punctuation and spaces are not.")
    return value


def _check_client_tag(field: str, value: object, limit: int) -> str | None:
    """A string the client chooses and the server echoes back (absent or null: None)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise InvalidInput.field(field, f"Must be a string of 1 to {limit} characters.")
    if _has_bad_code_point(value):
        raise InvalidInput.field(field, "U+0000 and unpaired surrogates are not allowed.")
    return value


def check_client_msg_id(value: object) -> str | None:
    return _check_client_tag("client_msg_id", value, MAX_CLIENT_MSG_ID)


def check_frame_ref(value: object) -> str | None:
    """A frame's ``ref`` (PROTOCOL.md 1.2), echoed by the ``ack`` or ``error`` that answers it."""
    return _check_client_tag("ref", value, MAX_FRAME_REF)
