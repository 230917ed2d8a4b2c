"""Small parsing helpers for the API views (query parameters, JSON bodies)."""

from rest_framework.request import Request

from .errors import InvalidInput
from .limits import MAX_ID


def json_body(request: Request) -> dict:
    """The request body as a JSON object ({} when empty)."""
    try:
        data = request.data
    except RecursionError:
        # json refuses very deeply nested documents with RecursionError, which DRF does not translate.
        raise InvalidInput("Malformed request body.", {"non_field_errors": ["JSON nested too deeply."]}) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", {"non_field_errors": ["Expected a JSON object."]})
    return data


def _query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not (text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit()))):
        raise InvalidInput.field(name, "Must be an integer.")
    if len(text.lstrip("-").lstrip("0")) > 19:
        # Beyond every range (and int() refuses thousands of digits): clamped or out of range.
        return -(MAX_ID + 1) if text.startswith("-") else MAX_ID + 1
    return int(text)


def query_limit(request: Request, default: int, maximum: int) -> int:
    """PROTOCOL.md: a numeric limit outside 1..maximum is clamped; a non-numeric one is an error."""
    value = _query_int(request, "limit")
    if value is None:
        return default
    return max(1, min(maximum, value))


def query_cursor(request: Request, name: str) -> int | None:
    value = _query_int(request, name)
    if value is not None and not 0 <= value <= MAX_ID:
        raise InvalidInput.field(name, "Out of range.")
    return value


def path_id(raw: str) -> int:
    """An id from a URL (the pattern already matched digits); out of range is -1, which matches nothing."""
    return int(raw) if len(raw) <= 19 and int(raw) <= MAX_ID else -1
