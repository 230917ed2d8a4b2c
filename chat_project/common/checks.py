"""Checks on ids clients send in JSON bodies and frames, shared by REST and WebSocket (PROTOCOL.md)."""

from typing import Literal, overload

from .errors import InvalidInput
from .limits import MAX_ID


@overload
def check_id(field: str, value: object, *, required: Literal[True] = True) -> int: ...
@overload
def check_id(field: str, value: object, *, required: bool) -> int | None: ...
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
