"""The contract's objects as dataclasses (docs/api.md, "Objects"); unknown fields are ignored, missing 1.1/1.2
fields get their defaults, so the SDK works with a server of any 1.x version."""

from dataclasses import dataclass, field
from typing import Any


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Profile:
    user_id: int
    username: str
    nickname: str = ""
    avatar_url: str = ""
    online: bool = False
    is_active: bool = True
    last_seen: str | None = None
    blocked: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Profile":
        return cls(
            user_id=d["user_id"],
            username=d.get("username", ""),
            nickname=d.get("nickname") or "",
            avatar_url=d.get("avatar_url") or "",
            online=bool(d.get("online")),
            is_active=d.get("is_active", True) is not False,
            last_seen=d.get("last_seen"),
            blocked=bool(d.get("blocked")),
        )

    @property
    def name(self) -> str:
        return self.nickname or self.username


@dataclass(frozen=True)
class Attachment:
    attachment_id: int
    name: str
    size: int
    content_type: str
    kind: str
    url: str
    width: int | None = None
    height: int | None = None
    thumbnail_url: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Attachment":
        return cls(
            attachment_id=d["attachment_id"],
            name=d.get("name", ""),
            size=d.get("size", 0),
            content_type=d.get("content_type", ""),
            kind=d.get("kind", "file"),
            url=d.get("url", ""),
            width=_opt_int(d.get("width")),
            height=_opt_int(d.get("height")),
            thumbnail_url=d.get("thumbnail_url"),
        )


@dataclass(frozen=True)
class ReplyTo:
    msg_id: int
    sender_id: int
    preview: str
    status: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReplyTo":
        return cls(d["msg_id"], d.get("sender_id", 0), d.get("preview", ""), d.get("status", "normal"))


@dataclass(frozen=True)
class Reaction:
    user_id: int
    emoji: str


@dataclass(frozen=True)
class Message:
    """One message. ``rev`` grows with every change both users see (1.2); a server without revisions
    gives none, and then ``rev`` is the ``msg_id`` (a new message's rev is its msg_id)."""

    msg_id: int
    conversation_id: int
    sender_id: int
    recipient_id: int
    content: str
    created_at: str
    status: str = "normal"
    client_msg_id: str | None = None
    rev: int = 0
    recalled_by: str | None = None
    edited_at: str | None = None
    reply_to: ReplyTo | None = None
    reactions: tuple[Reaction, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Message":
        reply = d.get("reply_to")
        return cls(
            msg_id=d["msg_id"],
            conversation_id=d["conversation_id"],
            sender_id=d["sender_id"],
            recipient_id=d["recipient_id"],
            content=d.get("content", ""),
            created_at=d.get("created_at", ""),
            status=d.get("status", "normal"),
            client_msg_id=d.get("client_msg_id"),
            rev=d.get("rev") or d["msg_id"],
            recalled_by=d.get("recalled_by"),
            edited_at=d.get("edited_at"),
            reply_to=ReplyTo.from_dict(reply) if isinstance(reply, dict) else None,
            reactions=tuple(Reaction(r["user_id"], r["emoji"]) for r in d.get("reactions") or ()),
            attachments=tuple(Attachment.from_dict(a) for a in d.get("attachments") or ()),
        )

    @property
    def recalled(self) -> bool:
        return self.status == "recalled"

    def as_recalled(self, recalled_by: str | None = None) -> "Message":
        """This message as a ``recalled`` frame leaves it (the frame carries no new rev)."""
        from dataclasses import replace

        return replace(self, status="recalled", content="", recalled_by=recalled_by, attachments=())


@dataclass(frozen=True)
class Conversation:
    conversation_id: int
    peer: Profile
    last_message: Message | None
    unread: int = 0
    peer_read_up_to: int | None = None
    muted: bool = False
    pinned: bool = False
    archived: bool = False
    blocked: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Conversation":
        last = d.get("last_message")
        return cls(
            conversation_id=d["conversation_id"],
            peer=Profile.from_dict(d["peer"]),
            last_message=Message.from_dict(last) if isinstance(last, dict) else None,
            unread=d.get("unread", 0),
            peer_read_up_to=_opt_int(d.get("peer_read_up_to")),
            muted=bool(d.get("muted")),
            pinned=bool(d.get("pinned")),
            archived=bool(d.get("archived")),
            blocked=bool(d.get("blocked")),
        )


@dataclass(frozen=True)
class OfflineGroup:
    """One sender's part of ``GET offline``: what reached the user while no socket of theirs was connected."""

    sender: Profile
    messages: list[Message]  # ascending by msg_id

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OfflineGroup":
        return cls(Profile.from_dict(d["sender"]), [Message.from_dict(m) for m in d.get("messages") or ()])


@dataclass(frozen=True)
class Unread:
    """``GET unread``: the total and the non-zero count of each conversation."""

    total: int
    conversations: dict[int, int]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Unread":
        return cls(int(d["total"]), {int(k): int(v) for k, v in (d.get("conversations") or {}).items()})


@dataclass(frozen=True)
class AttachmentLimits:
    """``GET attachments/limits`` (an extension of 1.2): what ``POST attachments`` and a send let through."""

    max_bytes: int  # CHAT_ATTACHMENT_MAX_BYTES: a larger file is refused (413)
    max_image_pixels: int  # CHAT_ATTACHMENT_MAX_PIXELS: an image with more (width x height) is refused (400)
    max_per_message: int  # the most attachments one message may carry

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AttachmentLimits":
        values = (d["max_bytes"], d["max_image_pixels"], d["max_per_message"])
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"attachment limits that are not integers: {d!r}")
        return cls(*values)


@dataclass(frozen=True)
class ConversationPage:
    results: list[Conversation]
    next_before: int | None


@dataclass(frozen=True)
class HistoryPage:
    results: list[Message]
    has_more: bool


@dataclass(frozen=True)
class SearchPage:
    results: list[Message]
    next_before: int | None


@dataclass(frozen=True)
class SyncPage:
    results: list[Message]
    has_more: bool
    next_since: int


@dataclass(frozen=True)
class Login:
    user_id: int
    token: str


@dataclass
class OutboxEntry:
    """A message being sent: its ``client_msg_id`` is minted once and kept until an ack or a refusal.
    ``files``: paths still to upload, in order; each uploaded one moves to ``attachments`` (its id), and the
    message is sent only once ``files`` is empty, so every resend carries the same ids."""

    client_msg_id: str
    to: int
    content: str
    reply_to: int | None = None
    attachments: list[int] = field(default_factory=list)
    created_at: float = 0.0
    # Not before this time (time.time()) after a rate_limited / unavailable answer, or a failed upload.
    not_before: float = 0.0
    files: list[str] = field(default_factory=list)

    def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "send",
            "to": self.to,
            "content": self.content,
            "client_msg_id": self.client_msg_id,
            "ref": self.client_msg_id,
        }
        if self.reply_to is not None:
            frame["reply_to"] = self.reply_to
        if self.attachments:
            frame["attachments"] = list(self.attachments)
        return frame

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_msg_id": self.client_msg_id,
            "to": self.to,
            "content": self.content,
            "reply_to": self.reply_to,
            "attachments": list(self.attachments),
            "created_at": self.created_at,
            "not_before": self.not_before,
            "files": list(self.files),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OutboxEntry":
        return cls(
            client_msg_id=d["client_msg_id"],
            to=d["to"],
            content=d["content"],
            reply_to=d.get("reply_to"),
            attachments=list(d.get("attachments") or []),
            created_at=d.get("created_at", 0.0),
            not_before=d.get("not_before", 0.0),
            files=[str(f) for f in d.get("files") or []],
        )
