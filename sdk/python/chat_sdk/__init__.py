"""Python client for the chat server: ``ChatClient`` (REST + ``/ws/chat/``), typed events and errors,
``ConversationList`` / ``MessageList`` helpers, and ``login``. See sdk/python/README.md."""

from .backoff import backoff
from .client import ChatClient
from .errors import ChatError
from .events import (
    CaughtUp,
    ErrorReceived,
    Event,
    MessageChanged,
    MessageReceived,
    Presence,
    ProfileChanged,
    ReadReceipt,
    Recalled,
    StateChanged,
    Typing,
    UnreadChanged,
)
from .lists import ConversationList, Entry, MessageList
from .models import (
    Attachment,
    Conversation,
    ConversationPage,
    HistoryPage,
    Login,
    Message,
    OutboxEntry,
    Profile,
    Reaction,
    ReplyTo,
    SearchPage,
    SyncPage,
)
from .rest import Rest, login
from .storage import JsonFileStore, MemoryStore, Saved, Store

__all__ = [
    "Attachment",
    "CaughtUp",
    "ChatClient",
    "ChatError",
    "Conversation",
    "ConversationList",
    "ConversationPage",
    "Entry",
    "ErrorReceived",
    "Event",
    "HistoryPage",
    "JsonFileStore",
    "Login",
    "MemoryStore",
    "Message",
    "MessageChanged",
    "MessageList",
    "MessageReceived",
    "OutboxEntry",
    "Presence",
    "Profile",
    "ProfileChanged",
    "Reaction",
    "ReadReceipt",
    "Recalled",
    "ReplyTo",
    "Rest",
    "Saved",
    "SearchPage",
    "StateChanged",
    "Store",
    "SyncPage",
    "Typing",
    "UnreadChanged",
    "backoff",
    "login",
]
