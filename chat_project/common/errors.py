"""Errors the services raise, in PROTOCOL.md's vocabulary.

Services raise these; the REST exception handler and the WebSocket consumer
render them (``{"code", "detail", "errors"?}``), so both entry points answer
the same mistake the same way.
"""

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Seconds a client is asked to wait after an ``unavailable`` answer.
UNAVAILABLE_RETRY_AFTER = 2


class ChatError(Exception):
    code = "error"
    status = 400
    default_detail = "The request could not be processed."
    # Seconds to wait before trying again: REST's Retry-After header, the
    # error frame's ``retry_after`` (PROTOCOL.md 1.2); None when not asked.
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, errors: dict[str, list[str]] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors
        super().__init__(self.detail)

    def as_dict(self) -> dict:
        body: dict = {"code": self.code, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class InvalidInput(ChatError):
    code = "validation_error"
    status = 400
    default_detail = "Invalid input."

    @classmethod
    def field(cls, field: str, message: str) -> "InvalidInput":
        return cls(message, {field: [message]})


class NotFound(ChatError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class Forbidden(ChatError):
    code = "forbidden"
    status = 403
    default_detail = "You do not have permission to do this."


class RateLimited(ChatError):
    code = "rate_limited"
    status = 429
    default_detail = "Too many requests; slow down."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail or f"Too many requests; try again in {self.retry_after} s.")


class Unavailable(ChatError):
    code = "unavailable"
    status = 503
    retry_after = UNAVAILABLE_RETRY_AFTER
    default_detail = "The server could not accept this right now; try again."


def outage_error(exc: BaseException) -> Unavailable | None:
    """The ``unavailable`` answer for a database or Redis that does not answer; None for other failures.

    REST renders it as 503 with Retry-After, the socket as an ``error`` frame:
    never a 500 for an outage.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        return Unavailable("The database is not answering; try again shortly.")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        return Unavailable("A service the server needs is not answering; try again shortly.")
    return None
