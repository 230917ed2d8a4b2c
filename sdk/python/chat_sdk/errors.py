"""Every failure the SDK reports is a ``ChatError``: the server's error shape, or one of the client's own codes."""

from typing import Any

# Codes the client itself uses (the server's are in docs/api.md, "Errors").
NETWORK_ERROR = "network_error"  # the server did not answer (connection refused, reset, timed out)
NOT_CONNECTED = "not_connected"  # a socket-only call made while the socket is not connected
CLOSED = "closed"  # the client was closed with the call still waiting

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
        return self.code in RETRYABLE or self.code == NETWORK_ERROR
