"""The Redis copies a new message makes, written in one pipeline per batch. Idempotent.

Written by the accepting process right after its commit (so the sender's
next read sees the message) and again by the fan-out task when the first
attempt may have failed: every write is idempotent (docs/architecture.md).
"""

from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store
from unread import store as unread_store
from unread.store import CounterCopy

from . import store
from .models import MessageRecord
from .payloads import message_dicts


def project_messages(
    records: list[MessageRecord],
    counters: dict[int, list[CounterCopy]],
    quoted: dict[int, MessageRecord] | None = None,
    attached: dict[int, list[dict]] | None = None,
) -> None:
    """Both users' conversation lists, the recent windows, offline entries and unread copies.

    ``counters`` are the recipients' counter copies by user, read in (or
    after) the accepting transaction; ``quoted`` the messages replies quote
    (fetched here when not given), ``attached`` their attachments by msg_id (likewise).
    """
    pipe = get_redis().pipeline(transaction=False)
    for record, message in zip(records, message_dicts(records, quoted, attached), strict=True):
        conversation_store.queue_message(pipe, message)
        if record.offline:
            store.queue_offline_add(pipe, record.recipient_id, record.sender_id, record.msg_id)
    for user_id, copies in counters.items():
        unread_store.queue_counter_writes(pipe, user_id, copies)
    pipe.execute()
