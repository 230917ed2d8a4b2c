"""The Redis copies a new message makes, written in one pipeline per batch. Idempotent.

Written by the accepting process right after its commit (so the sender's
next read sees the message) and again by the fan-out task when the first
attempt may have failed: every write is idempotent (docs/architecture.md).
"""

from collections import defaultdict

from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store
from unread import store as unread_store

from . import store
from .models import MessageRecord
from .payloads import message_dict


def project_messages(records: list[MessageRecord], counters: list[tuple[int, int, int, int, int]]) -> None:
    """Both users' conversation lists, the recent windows, offline entries and unread copies.

    ``counters`` are (user_id, conversation_id, received, read, version) rows
    of the recipients' counters, read in (or after) the accepting transaction.
    """
    pipe = get_redis().pipeline(transaction=False)
    for record in records:
        conversation_store.queue_message(pipe, message_dict(record))
        if record.offline:
            store.queue_offline_add(pipe, record.recipient_id, record.sender_id, record.msg_id)
    by_user: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for user_id, conversation_id, received, read, version in counters:
        by_user[user_id].append((conversation_id, received, read, version))
    for user_id, copies in by_user.items():
        unread_store.queue_counter_writes(pipe, user_id, copies)
    pipe.execute()
