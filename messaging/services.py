"""Message operations shared by the REST API, the WebSocket consumer and the workers.

Send: validate -> filter -> enrich -> durable accept -> fan-out on Celery.
The accept writes the message row, the conversation's last id and the
recipient's received counter in one transaction, so an ``ack`` is only given
for a message the database holds. After the commit, the same process writes
the Redis copies (so the sender's next read sees its message) and enqueues the
fan-out, which re-applies them idempotently, pushes, and marks the row done.
See docs/architecture.md for why the database, not the broker, is the
durable point.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest

from chat_project.errors import Forbidden, InvalidInput, NotFound, Unavailable
from chat_project.ratelimit import check_rate
from chat_project.redis_client import get_redis
from conversations import store as conversation_store
from conversations.models import Conversation
from conversations.services import get_or_create_conversation
from profiles import store as profile_store
from profiles.models import User
from profiles.services import get_active_user, get_profiles
from unread import services as unread_services
from unread import store as unread_store

from . import push, store
from .content_filter import filter_content
from .ids import id_floor_for_time, id_time_seconds, next_message_id, renew_worker
from .models import MessageRecord, MessageStatus
from .payloads import message_dict
from .validation import check_client_msg_id, check_content, check_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    message: dict
    created: bool


def _existing(sender_id: int, client_msg_id: str | None) -> MessageRecord | None:
    if client_msg_id is None:
        return None
    return MessageRecord.objects.filter(sender_id=sender_id, client_msg_id=client_msg_id).first()


# Deadlock (1213) and lock wait timeout (1205): the transaction was rolled
# back whole, so the accept can simply run again with a new id.
RETRYABLE_MYSQL_ERRORS = (1205, 1213)
ACCEPT_ATTEMPTS = 3


def send_message(sender: User, to: object, content: object, client_msg_id: object = None) -> SendResult:
    """Accept a message durably; the same client_msg_id again returns the first message."""
    client_msg_id = check_client_msg_id(client_msg_id)
    previous = _existing(sender.pk, client_msg_id)
    if previous is not None:
        return SendResult(message_dict(previous), created=False)
    recipient_id = check_id("to", to)
    content = check_content(content)
    if recipient_id == sender.pk:
        raise InvalidInput.field("to", "You cannot send a message to yourself.")
    recipient = get_active_user(recipient_id)
    check_rate("send", f"u{sender.pk}", settings.CHAT_SEND_RATE)
    content = filter_content(content)

    offline = not profile_store.is_online(recipient.pk)
    for _ in range(ACCEPT_ATTEMPTS):
        try:
            record = _accept(sender.pk, recipient.pk, content, client_msg_id, next_message_id(), offline)
            return SendResult(message_dict(record), created=True)
        except IntegrityError as exc:
            previous = _existing(sender.pk, client_msg_id)
            if previous is not None:
                # The same client_msg_id raced itself: the other accept won.
                return SendResult(message_dict(previous), created=False)
            if "msgId" not in str(exc):
                raise
            # Two processes on one id worker (a Redis flush lost the lease):
            # the unique msgId refused the second; lease a fresh worker.
            logger.error("message id %s was handed out twice; leasing a new id worker", exc)
            renew_worker()
        except OperationalError as exc:
            if exc.args and exc.args[0] in RETRYABLE_MYSQL_ERRORS:
                continue
            raise
    raise Unavailable("The message could not be stored right now; send it again.")


def _accept(
    sender_id: int, recipient_id: int, content: str, client_msg_id, msg_id: int, offline: bool
) -> MessageRecord:
    deadline = id_time_seconds(msg_id) + settings.CHAT_ACCEPT_DEADLINE_SECONDS
    with transaction.atomic():
        conversation = get_or_create_conversation(sender_id, recipient_id)
        # The conversation row first: the counter and message inserts below take
        # shared locks on it (foreign keys), so two sends in opposite directions
        # that upgraded to this exclusive lock last would deadlock. Then, as
        # everywhere: counter row, then message rows.
        Conversation.objects.filter(pk=conversation.pk).update(
            last_msg_id=Greatest(Coalesce(F("last_msg_id"), Value(0)), Value(msg_id))
        )
        unread_services.add_received(conversation.pk, recipient_id)
        record = MessageRecord.objects.create(
            session=conversation,
            msg_id=msg_id,
            created_at=datetime.now(UTC),
            sender_id=sender_id,
            recipient_id=recipient_id,
            content=content,
            client_msg_id=client_msg_id,
            offline=offline,
        )
        counter = unread_services.current_copy(conversation.pk, recipient_id)
        if time.time() > deadline:
            # Sync cursors trust that an id older than the deadline is either
            # visible or never will be; this one is late, so it must not commit.
            raise Unavailable("The message could not be stored in time; send it again.")
        transaction.on_commit(lambda: _after_accept(record, counter))
    return record


def _after_accept(record: MessageRecord, counter: tuple[int, int, int, int]) -> None:
    projected = False
    try:
        project_message(record, counter)
        projected = True
    except Exception:
        logger.warning("projecting message %s to Redis failed; the fan-out will retry", record.msg_id, exc_info=True)
    from .tasks import fan_out_message

    try:
        fan_out_message.delay(record.msg_id, projected)
    except Exception:
        # The message is durable; the sweeper re-drives its fan-out.
        logger.error("could not enqueue fan-out of message %s", record.msg_id, exc_info=True)


def project_message(record: MessageRecord, counter: tuple[int, int, int, int]) -> None:
    """Write every Redis copy a new message makes. Idempotent."""
    pipe = get_redis().pipeline(transaction=False)
    conversation_store.queue_message(pipe, message_dict(record))
    unread_store.queue_counter_writes(pipe, record.recipient_id, [counter])
    if record.offline:
        store.queue_offline_add(pipe, record.recipient_id, record.sender_id, record.msg_id)
    pipe.execute()


def fan_out(msg_id: int, projected: bool = False) -> None:
    """The realtime task's work: (re-)apply the Redis copies, push, mark done. Idempotent.

    ``projected`` says the accepting process already wrote the copies. The
    sweeper, and a Celery retry after a failure, leave it False, so the copies
    are re-applied (a process that died before writing them, a failure half
    way). A Redis flushed since is rebuilt by its readers (the ready markers).
    """
    record = MessageRecord.objects.filter(msg_id=msg_id).first()
    if record is None or record.fan_out_done:
        return
    if not projected:
        project_message(record, unread_services.current_copy(record.session_id, record.recipient_id))
    if not store.already_pushed(msg_id):
        message = message_dict(record)
        sender_profile = get_profiles([record.sender_id]).get(record.sender_id)
        # ``sender`` is an extension of the message frame: the recipient's UI
        # can show a new peer without fetching the profile.
        frame = {"type": "message", "message": message, "sender": sender_profile}
        push.push(
            [
                (record.recipient_id, frame),
                (record.sender_id, frame),
                (record.recipient_id, unread_services.unread_frame(record.recipient_id, record.session_id)),
            ]
        )
        store.mark_pushed(msg_id)
    MessageRecord.objects.filter(pk=record.pk).update(fan_out_done=True)


def unfinished_fan_out(older_than_seconds: float, limit: int) -> list[int]:
    cutoff = id_floor_for_time(time.time() - older_than_seconds)
    return list(
        MessageRecord.objects.filter(fan_out_done=False, msg_id__lt=cutoff)
        .order_by("msg_id")
        .values_list("msg_id", flat=True)[:limit]
    )


# --- recall ------------------------------------------------------------------


def recall_message(user_id: int, msg_id: int) -> None:
    """The sender takes a message back within the recall window; it becomes ``recalled`` everywhere."""
    record = MessageRecord.objects.filter(msg_id=msg_id).filter(Q(sender_id=user_id) | Q(recipient_id=user_id)).first()
    if record is None:
        raise NotFound("No such message.")
    if record.sender_id != user_id:
        raise Forbidden("Only the sender can recall a message.")
    if record.record_status == MessageStatus.RECALLED:
        return
    if time.time() - record.created_at.timestamp() > settings.CHAT_RECALL_WINDOW_SECONDS:
        raise Forbidden(f"Messages can be recalled within {settings.CHAT_RECALL_WINDOW_SECONDS} seconds of sending.")
    _recall(record)


def moderate_recall(msg_id: int) -> None:
    """A moderator recalls any message, whenever it was sent (the admin's action)."""
    record = MessageRecord.objects.filter(msg_id=msg_id).first()
    if record is None:
        raise NotFound("No such message.")
    _recall(record)


def _recall(record: MessageRecord) -> None:
    with transaction.atomic():
        counter = unread_services.lock_counter(record.session_id, record.recipient_id)
        record = MessageRecord.objects.select_for_update().get(pk=record.pk)
        if record.record_status == MessageStatus.RECALLED:
            return
        record.record_status = MessageStatus.RECALLED
        fields = ["record_status"]
        if not record.is_read:
            # A recalled unread message stops counting: it counts as read.
            record.is_read = True
            fields.append("is_read")
            counter.read += 1
            counter.version += 1
            counter.save(update_fields=["read", "version"])
        record.save(update_fields=fields)
        copy = unread_services.counter_copy(counter)
        transaction.on_commit(lambda: _after_recall(record, copy))


def _after_recall(record: MessageRecord, counter: tuple[int, int, int, int]) -> None:
    message = message_dict(record)
    try:
        pipe = get_redis().pipeline(transaction=False)
        conversation_store.queue_replace(pipe, message)
        unread_store.queue_counter_writes(pipe, record.recipient_id, [counter])
        pipe.execute()
    except Exception:
        logger.warning("could not update Redis after recalling %s", record.msg_id, exc_info=True)
    frame = {"type": "recalled", "conversation_id": record.session_id, "msg_id": record.msg_id}
    push.push_quietly(
        [
            (record.sender_id, frame),
            (record.recipient_id, frame),
            (record.recipient_id, unread_services.unread_frame(record.recipient_id, record.session_id)),
        ]
    )
