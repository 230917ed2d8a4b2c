"""Checks on what clients send, shared by REST and WebSocket (PROTOCOL.md)."""

from chat_project.errors import InvalidInput
from chat_project.text import has_unpaired_surrogate

MAX_CONTENT_CODE_POINTS = 4000
MAX_CLIENT_MSG_ID = 64
# PROTOCOL.md: every id (user, conversation, message, sync cursor) is below
# 2^53, so JavaScript numbers and Redis scores hold it exactly; anything
# larger is a mistake of the client, refused before SQL or Redis sees it.
MAX_ID = (1 << 53) - 1
# Most users one socket may watch (PROTOCOL.md 1.1).
MAX_WATCHED_USERS = 100


def _has_bad_code_point(text: str) -> bool:
    return "\x00" in text or has_unpaired_surrogate(text)


def check_content(content: object) -> str:
    if not isinstance(content, str):
        raise InvalidInput.field("content", "Must be a string.")
    if not content or content.isspace():
        raise InvalidInput.field("content", "The message is empty.")
    if len(content) > MAX_CONTENT_CODE_POINTS:
        raise InvalidInput.field("content", f"At most {MAX_CONTENT_CODE_POINTS} characters.")
    if _has_bad_code_point(content):
        raise InvalidInput.field("content", "U+0000 and unpaired surrogates are not allowed.")
    return content


def check_client_msg_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLIENT_MSG_ID:
        raise InvalidInput.field("client_msg_id", f"Must be a string of 1 to {MAX_CLIENT_MSG_ID} characters.")
    if _has_bad_code_point(value):
        raise InvalidInput.field("client_msg_id", "U+0000 and unpaired surrogates are not allowed.")
    return value


def check_id(field: str, value: object, *, required: bool = True) -> int | None:
    """A JSON integer id below 2^53 (booleans and floats are not integers here)."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput.field(field, "Must be an integer.")
    if not 0 <= value <= MAX_ID:
        raise InvalidInput.field(field, "Out of range.")
    return value


def check_id_list(field: str, value: object, *, max_items: int) -> list[int]:
    """A JSON array of at most ``max_items`` integer ids; duplicates are kept once, in order."""
    if not isinstance(value, list):
        raise InvalidInput.field(field, "Must be an array of integers.")
    if len(value) > max_items:
        raise InvalidInput.field(field, f"At most {max_items} ids.")
    return list(dict.fromkeys(check_id(field, item) for item in value))
