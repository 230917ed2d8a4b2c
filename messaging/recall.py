"""Recalling a message: by its sender within the window, or by a moderator at any time."""

import logging
import time

from django.conf import settings
from django.db import transaction

from chat_project.common.dbretry import run_transaction
from chat_project.common.errors import Forbidden, NotFound
from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store
from unread import services as unread_services
from unread import store as unread_store
from unread.models import UnreadCounter
from unread.store import CounterCopy

from . import attachments, changes, search_index, streams
from .changes import message_for
from .models import MessageRecord, MessageStatus
from .payloads import message_dict

logger = logging.getLogger(__name__)


def recall_message(user_id: int, msg_id: int) -> None:
    """The sender takes a message back within the recall window; it becomes ``recalled`` everywhere."""
    record = message_for(user_id, msg_id)
    if record.sender_id != user_id:
        raise Forbidden("Only the sender can recall a message.")
    if record.record_status == MessageStatus.RECALLED:
        return
    if time.time() - record.created_at.timestamp() > settings.CHAT_RECALL_WINDOW_SECONDS:
        raise Forbidden(f"Messages can be recalled within {settings.CHAT_RECALL_WINDOW_SECONDS} seconds of sending.")
    _recall(record, "sender")


def moderate_recall(msg_id: int) -> bool:
    """A moderator recalls any message, whenever it was sent (the admin's action).

    True if this call recalled it, False if it was already recalled (then
    nothing changes, ``recalled_by`` included).
    """
    record = MessageRecord.objects.filter(msg_id=msg_id).first()
    if record is None:
        raise NotFound("No such message.")
    return _recall(record, "moderator")


def _recall(record: MessageRecord, recalled_by: str) -> bool:
    """``recalled_by`` is a ``RecalledBy`` value: "sender" or "moderator".

    Lock order (messaging/streams.py): both users' stream rows (the new rev),
    the recipient's counter, the message row.
    """
    streams.ensure_streams({record.sender_id, record.recipient_id})
    tries: list[int] = []

    def recall() -> bool:
        # Run again whole after a deadlock or a lost database (chat_project/common/dbretry.py).
        # A lost COMMIT may have recalled it already: then this call did it, and its
        # Redis copies and frames (on_commit, dropped with the failed try) are still owed.
        retried = bool(tries)
        tries.append(1)
        last = changes.lock_participants(record)
        counter = unread_services.lock_counter(record.session_id, record.recipient_id)
        locked = MessageRecord.objects.select_for_update().get(pk=record.pk)
        if locked.record_status == MessageStatus.RECALLED:
            if retried and locked.recalled_by == recalled_by:
                _on_commit_after_recall(locked, counter)
                return True
            return False
        locked.record_status = MessageStatus.RECALLED
        locked.recalled_by = recalled_by
        locked.rev = changes.take_rev(last, locked)
        fields = ["record_status", "recalled_by", "rev"]
        if locked.reactions:
            # A recalled message keeps nothing of what was said or added to it. This also
            # settles a reaction whose COMMIT answer was lost before this recall: its retry
            # is refused (recalled), so the reaction must not stay behind.
            locked.reactions = None
            fields.append("reactions")
        if not locked.is_read:
            # A recalled unread message stops counting: it counts as read.
            locked.is_read = True
            fields.append("is_read")
            # At or below the recipient's read position: now part of the receipt they give.
            receipt = locked.msg_id if locked.msg_id <= counter.last_read_msg_id else 0
            unread_services.count_read(counter, 1, receipt_msg_id=receipt)
        locked.save(update_fields=fields)
        search_index.unindex_message(locked.msg_id, locked.sender_id, locked.recipient_id, locked.content)
        _on_commit_after_recall(locked, counter)
        return True

    return run_transaction(recall, "recall")


def _on_commit_after_recall(record: MessageRecord, counter: UnreadCounter) -> None:
    copy = unread_services.counter_copy(counter)
    # Now read and at or below the recipient's read position (a position a
    # client set beyond the newest message): the sender's peer_read_up_to
    # counts it, as its rebuild from the database would.
    receipt = record.msg_id <= counter.last_read_msg_id
    transaction.on_commit(lambda: _after_recall(record, copy, receipt))
    # Its files go once the recall is durable; what this misses, the attachment sweeper finds.
    transaction.on_commit(lambda: _delete_attachments(record.msg_id))


def _delete_attachments(msg_id: int) -> None:
    try:
        attachments.delete_attachments_of(msg_id)
    except Exception:
        logger.warning("could not delete the attachments of recalled message %s", msg_id, exc_info=True)


def _after_recall(record: MessageRecord, counter: CounterCopy, receipt: bool = False) -> None:
    message = message_dict(record)
    try:
        pipe = get_redis().pipeline(transaction=False)
        conversation_store.queue_replace(pipe, message)
        unread_store.queue_counter_writes(pipe, record.recipient_id, [counter])
        if receipt:
            conversation_store.queue_peer_read_writes(pipe, record.sender_id, {record.session_id: record.msg_id})
        pipe.execute()
    except Exception:
        logger.warning("could not update Redis after recalling %s", record.msg_id, exc_info=True)
    # ``recalled_by`` is an extension of the frame (PROTOCOL.md 1.1 has it on the Message).
    frame = {
        "type": "recalled",
        "conversation_id": record.session_id,
        "msg_id": record.msg_id,
        "recalled_by": message["recalled_by"],
    }
    # ``recalled`` for 1.1 clients, ``changed`` (the new rev) for 1.2 ones.
    changed = changes.changed_frame(message)
    changes.push_numbered(
        {
            record.sender_id: [frame, changed],
            record.recipient_id: [frame, changed, unread_services.unread_frame(record.recipient_id, record.session_id)],
        }
    )
