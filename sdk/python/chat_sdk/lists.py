"""State a chat screen renders, kept from events: the conversation list and one conversation's messages."""

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from .errors import ChatError
from .events import (
    Event,
    MessageChanged,
    MessageReceived,
    Presence,
    ProfileChanged,
    ReadReceipt,
    Recalled,
    SendFailed,
    SendQueued,
    UnreadChanged,
)
from .models import Conversation, ConversationPage, Message, OutboxEntry

if TYPE_CHECKING:
    from .client import ChatClient

Status = Literal["pending", "sent", "failed"]


@dataclass
class Entry:
    """One row of a MessageList: a stored ``message`` (status ``sent``), or a local echo of one being sent
    (``pending``, or ``failed`` with its ``error``)."""

    client_msg_id: str | None
    content: str
    status: Status
    message: Message | None = None
    error: ChatError | None = None

    @property
    def msg_id(self) -> int | None:
        return self.message.msg_id if self.message is not None else None


class MessageList:
    """One conversation's messages: one entry per ``msg_id`` (the copy with the largest rev), ordered by
    ``msg_id``, then the local echoes still pending or failed, in the order they were sent. With ``peer_id``,
    sends to that user (``SendQueued`` events) show up as local echoes by themselves."""

    def __init__(self, conversation_id: int, peer_id: int | None = None) -> None:
        self.conversation_id = conversation_id
        self.peer_id = peer_id
        self._by_id: dict[int, Entry] = {}
        self._local: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._by_id) + len(self._local)

    def items(self) -> list[Entry]:
        return [self._by_id[k] for k in sorted(self._by_id)] + list(self._local.values())

    def messages(self) -> list[Message]:
        return [e.message for e in self.items() if e.message is not None]

    def load(self, messages: Iterable[Message]) -> None:
        """A history page (or any messages): merged, one entry per msg_id."""
        for message in messages:
            self.upsert(message)

    def upsert(self, message: Message) -> bool:
        """Add or replace by msg_id when ``rev`` is larger; settles the local echo with the same client_msg_id."""
        if message.conversation_id != self.conversation_id:
            return False
        if message.client_msg_id is not None:
            self._local.pop(message.client_msg_id, None)
        current = self._by_id.get(message.msg_id)
        if current is not None and current.message is not None and current.message.rev >= message.rev:
            return False
        self._by_id[message.msg_id] = Entry(message.client_msg_id, message.content, "sent", message)
        return True

    def add_pending(self, entry: OutboxEntry) -> Entry:
        echo = Entry(entry.client_msg_id, entry.content, "pending")
        self._local[entry.client_msg_id] = echo
        return echo

    def fail(self, client_msg_id: str, error: ChatError) -> None:
        echo = self._local.get(client_msg_id)
        if echo is not None:
            echo.status, echo.error = "failed", error

    def recall(self, msg_id: int, recalled_by: str | None = None) -> bool:
        current = self._by_id.get(msg_id)
        if current is None or current.message is None or current.message.recalled:
            return False
        current.message = current.message.as_recalled(recalled_by)
        current.content = ""
        return True

    def apply(self, event: Event) -> bool:
        """Update from a client event; True if this list changed."""
        if isinstance(event, MessageReceived | MessageChanged):
            return self.upsert(event.message)
        if isinstance(event, Recalled) and event.conversation_id == self.conversation_id:
            return self.recall(event.msg_id, event.recalled_by)
        if isinstance(event, SendQueued) and self.peer_id is not None and event.entry.to == self.peer_id:
            if event.entry.client_msg_id not in self._local:
                self.add_pending(event.entry)
            return True
        if isinstance(event, SendFailed) and event.client_msg_id in self._local:
            self.fail(event.client_msg_id, event.error)
            return True
        return False

    async def send(
        self,
        client: "ChatClient",
        to: int,
        content: str,
        reply_to: int | None = None,
        attachments: list[int] | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> Message:
        """``client.send`` with a local echo: ``pending`` at once (while its files upload too), then ``sent``
        (or ``failed``)."""
        entry = client.queue(to, content, reply_to, attachments, files)
        if entry.client_msg_id not in self._local:
            self.add_pending(entry)
        try:
            message = await client.wait_ack(entry.client_msg_id)
        except ChatError as error:
            self.fail(entry.client_msg_id, error)
            raise
        self.upsert(message)
        return message


class ConversationList:
    """The user's conversations, newest last message first (pinned ones first), kept from events.
    A message in a conversation not loaded yet lands in ``unknown``: fetch it (``conversation_with``)."""

    def __init__(self) -> None:
        self._by_id: dict[int, Conversation] = {}
        self.unknown: set[int] = set()
        self.total_unread: int | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, conversation_id: int) -> Conversation | None:
        return self._by_id.get(conversation_id)

    def ordered(self) -> list[Conversation]:
        def key(c: Conversation) -> tuple[bool, int]:
            return (not c.pinned, -(c.last_message.msg_id if c.last_message else 0))

        return sorted(self._by_id.values(), key=key)

    def load(self, page: ConversationPage | Iterable[Conversation]) -> None:
        for conversation in page.results if isinstance(page, ConversationPage) else page:
            self._by_id[conversation.conversation_id] = conversation
            self.unknown.discard(conversation.conversation_id)

    def apply(self, event: Event) -> bool:
        if isinstance(event, MessageReceived | MessageChanged):
            return self._message(event.message)
        if isinstance(event, UnreadChanged):
            self.total_unread = event.total
            return self._update(event.conversation_id, unread=event.unread)
        if isinstance(event, Recalled):
            current = self._by_id.get(event.conversation_id)
            last = current.last_message if current else None
            if last is None or last.msg_id != event.msg_id:
                return False
            return self._update(event.conversation_id, last_message=last.as_recalled(event.recalled_by))
        if isinstance(event, ReadReceipt):
            current = self._by_id.get(event.conversation_id)
            if current is None or event.up_to is None:
                return False
            return self._update(event.conversation_id, peer_read_up_to=max(current.peer_read_up_to or 0, event.up_to))
        if isinstance(event, Presence):
            return self._peers(event.user_id, online=event.online, last_seen=event.last_seen)
        if isinstance(event, ProfileChanged):
            changed = False
            for c in list(self._by_id.values()):
                if c.peer.user_id == event.profile.user_id:
                    self._by_id[c.conversation_id] = replace(c, peer=event.profile)
                    changed = True
            return changed
        return False

    def _message(self, message: Message) -> bool:
        current = self._by_id.get(message.conversation_id)
        if current is None:
            self.unknown.add(message.conversation_id)
            return False
        last = current.last_message
        if last is not None and (
            last.msg_id > message.msg_id or (last.msg_id == message.msg_id and last.rev >= message.rev)
        ):
            return False
        return self._update(message.conversation_id, last_message=message)

    def _update(self, conversation_id: int, **changes: object) -> bool:
        current = self._by_id.get(conversation_id)
        if current is None:
            return False
        self._by_id[conversation_id] = replace(current, **changes)  # type: ignore[arg-type]
        return True

    def _peers(self, user_id: int, **changes: object) -> bool:
        changed = False
        for c in list(self._by_id.values()):
            if c.peer.user_id == user_id:
                self._by_id[c.conversation_id] = replace(c, peer=replace(c.peer, **changes))  # type: ignore[arg-type]
                changed = True
        return changed
