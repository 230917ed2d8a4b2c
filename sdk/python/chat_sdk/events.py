"""What ``ChatClient.events()`` yields: one dataclass per kind, each with a ``kind`` name for ``client.on(kind)``."""

from dataclasses import dataclass
from typing import ClassVar, Literal

from .errors import ChatError
from .models import Message, OutboxEntry, Profile

State = Literal["disconnected", "connecting", "connected"]


@dataclass(frozen=True)
class StateChanged:
    """``connecting`` (with the close ``code`` and ``reason`` that caused it, if any), ``connected`` (socket ready
    and caught up), or ``disconnected`` (``disconnect()``, or 4401: log in again; no retry)."""

    kind: ClassVar[str] = "state"
    state: State
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class MessageReceived:
    """A message seen for the first time (pushed, synced or acked): once per ``msg_id``."""

    kind: ClassVar[str] = "message"
    message: Message


@dataclass(frozen=True)
class MessageChanged:
    """A message already seen, in a newer state (larger ``rev``: recalled, edited, reacted to)."""

    kind: ClassVar[str] = "changed"
    message: Message


@dataclass(frozen=True)
class UnreadChanged:
    kind: ClassVar[str] = "unread"
    conversation_id: int
    unread: int
    total: int


@dataclass(frozen=True)
class ReadReceipt:
    kind: ClassVar[str] = "read"
    conversation_id: int
    reader_id: int
    up_to: int | None


@dataclass(frozen=True)
class Typing:
    kind: ClassVar[str] = "typing"
    conversation_id: int
    user_id: int


@dataclass(frozen=True)
class Recalled:
    kind: ClassVar[str] = "recalled"
    conversation_id: int
    msg_id: int
    recalled_by: str | None = None


@dataclass(frozen=True)
class Presence:
    kind: ClassVar[str] = "presence"
    user_id: int
    online: bool
    last_seen: str | None = None


@dataclass(frozen=True)
class ProfileChanged:
    kind: ClassVar[str] = "profile"
    profile: Profile


@dataclass(frozen=True)
class CaughtUp:
    """A catch-up finished: everything up to ``cursor`` was emitted (after every connect and every ``resync``)."""

    kind: ClassVar[str] = "caught_up"
    cursor: int


@dataclass(frozen=True)
class SendQueued:
    """A message entered the outbox (``send()`` or ``queue()``): show it as pending."""

    kind: ClassVar[str] = "pending"
    entry: OutboxEntry


@dataclass(frozen=True)
class SendFailed:
    """The server refused a queued message (not rate_limited / unavailable, which are retried)."""

    kind: ClassVar[str] = "failed"
    client_msg_id: str
    to: int
    error: ChatError


@dataclass(frozen=True)
class UploadProgress:
    """A file of a queued message is being uploaded: ``sent`` of ``total`` bytes (of the request body)."""

    kind: ClassVar[str] = "upload"
    client_msg_id: str
    path: str
    sent: int
    total: int


@dataclass(frozen=True)
class ErrorReceived:
    """An error that is no call's answer: an ``error`` frame (``ref`` names its frame: a read, typing or
    watch), a failed catch-up."""

    kind: ClassVar[str] = "error"
    error: ChatError
    ref: str | None = None
    client_msg_id: str | None = None


Event = (
    StateChanged
    | MessageReceived
    | MessageChanged
    | UnreadChanged
    | ReadReceipt
    | Typing
    | Recalled
    | Presence
    | ProfileChanged
    | CaughtUp
    | SendQueued
    | SendFailed
    | UploadProgress
    | ErrorReceived
)
