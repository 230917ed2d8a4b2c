"""Every failure the SDK reports is a ``ChatError``: the server's error shape, or one of the client's own codes.

Uploads raise subclasses (all of ``UploadError``), so an app can tell "too large" from "cancelled" with
``except`` alone: ``AttachmentTooLarge`` (413, or refused before a byte was sent), ``InvalidAttachment``
(``validation_error`` on ``file``: empty, a broken image, too many pixels), ``UnsupportedMediaType`` (415)
and ``UploadCancelled``.
"""

from typing import Any

# Codes the client itself uses (the server's are in docs/api.md, "Errors").
NETWORK_ERROR = "network_error"  # the server did not answer (connection refused, reset, timed out)
NOT_CONNECTED = "not_connected"  # a socket-only call made while the socket is not connected
CLOSED = "closed"  # the client was closed with the call still waiting
CANCELLED = "cancelled"  # an upload (and the send waiting for it) was cancelled

# Error frames with these codes mean "send again later with the same client_msg_id".
RETRYABLE = frozenset({"rate_limited", "unavailable"})


class ChatError(Exception):
    """``{"code", "detail", "errors"?}`` from REST or an ``error`` frame; ``retry_after`` in seconds when given."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        errors: dict[str, list[str]] | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.errors = errors or {}
        self.retry_after = retry_after
        self.status = status

    @classmethod
    def from_body(cls, body: Any, status: int | None = None, retry_after: float | None = None) -> "ChatError":
        if not isinstance(body, dict):
            return cls("server_error" if (status or 500) >= 500 else "http_error", f"HTTP {status}", status=status)
        given = body.get("retry_after")
        return cls(
            str(body.get("code") or "server_error"),
            str(body.get("detail") or ""),
            body.get("errors") if isinstance(body.get("errors"), dict) else None,
            float(given) if isinstance(given, int | float) else retry_after,
            status,
        )

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE or self.code == NETWORK_ERROR or (self.status or 0) >= 500


class UploadError(ChatError):
    """An upload the server refused, or the client refused or abandoned itself (``status`` None)."""


class AttachmentTooLarge(UploadError):
    """Over the server's limit: its 413 ``payload_too_large``, or the client's own check before uploading
    (``limit``: the bytes allowed, when known; ``size``: the file's)."""

    def __init__(self, detail: str = "", *, size: int | None = None, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__("payload_too_large", detail, **kwargs)
        self.size = size
        self.limit = limit


class InvalidAttachment(UploadError):
    """``validation_error`` on ``file``: an empty file, an image that does not decode whole or has too many
    pixels; or, before uploading, a file that is empty or cannot be read."""

    def __init__(self, detail: str = "", **kwargs: Any) -> None:
        super().__init__("validation_error", detail, **kwargs)


class UnsupportedMediaType(UploadError):
    """415: the body was not the multipart form the server reads."""

    def __init__(self, detail: str = "", **kwargs: Any) -> None:
        super().__init__("unsupported_media_type", detail, **kwargs)


class UploadCancelled(UploadError):
    """The upload was cancelled (``Upload.cancel()``, ``ChatClient.cancel()``, or an ``on_progress`` callback
    that raised this): the server stores nothing of a body it did not receive whole."""

    def __init__(self, detail: str = "the upload was cancelled", **kwargs: Any) -> None:
        super().__init__(CANCELLED, detail, **kwargs)


def upload_error(error: ChatError, size: int | None = None) -> ChatError:
    """The typed error for an upload's refusal (other codes, such as rate_limited, stay as they are)."""
    extra: dict[str, Any] = {"errors": error.errors, "retry_after": error.retry_after, "status": error.status}
    if error.code == "payload_too_large" or error.status == 413:
        return AttachmentTooLarge(error.detail, size=size, **extra)
    if error.code == "unsupported_media_type" or error.status == 415:
        return UnsupportedMediaType(error.detail, **extra)
    if error.code == "validation_error":
        return InvalidAttachment(error.detail, **extra)
    return error
