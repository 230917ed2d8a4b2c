"""What the conversation list needs from the app above it, handed over at start-up.

``conversations`` sits below ``messaging`` (docs/architecture.md) and may not
import it. Two things on its cold path come from message rows: the last
messages by id (a preview missing from Redis) and the read receipts
(``peer_read_up_to``) after a Redis flush. ``messaging`` registers them in
its ``AppConfig.ready``.
"""

from collections.abc import Callable
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured


class MessageReads(NamedTuple):
    # {msg_id: Message payload} of the messages that exist.
    messages_by_id: Callable[[list[int]], dict[int, dict]]
    # The user's ``peer_read_up_to`` of every conversation, from the database, merged into Redis.
    rebuild_peer_reads: Callable[[int], dict[int, int]]
    # The same for some of the user's conversations, Redis left as it is (a cold page of a large list).
    peer_reads_in: Callable[[int, list[int]], dict[int, int]]


_message_reads: MessageReads | None = None


def register_message_reads(reads: MessageReads) -> None:
    global _message_reads
    _message_reads = reads


def message_reads() -> MessageReads:
    if _message_reads is None:
        raise ImproperlyConfigured("The messaging app registers conversations.hooks.register_message_reads.")
    return _message_reads
