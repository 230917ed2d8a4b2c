"""Changes to a message both users see (recall, edit, reaction): a fresh ``rev`` and a ``changed`` frame.

A change takes its rev the way a send takes its msg_id: inside the
transaction, while it holds the stream rows of both users
(messaging/streams.py), so revs follow commit order per user and sync by rev
stays gap-free (docs/architecture.md, "Sync is gap-free"). Lock order:
stream rows, then (a recall) the unread counter, then the message row.

Once committed, the conversation's recent window in Redis gets the new
state (only over an older rev: a late writer never moves it back) and every
socket of both users gets ``{"type": "changed", "message": …}``.
"""

import logging
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Q

from chat_project.common import push
from chat_project.common.dbretry import run_transaction
from chat_project.common.errors import NotFound
from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store

from . import store, streams
from .models import MessageRecord
from .payloads import message_dict

logger = logging.getLogger(__name__)


def message_for(user_id: int, msg_id: int) -> MessageRecord:
    """The message if the user sent or received it; otherwise ``not_found`` (never revealing it exists)."""
    record = MessageRecord.objects.filter(msg_id=msg_id).filter(Q(sender_id=user_id) | Q(recipient_id=user_id)).first()
    if record is None:
        raise NotFound("No such message.")
    return record


def lock_participants(record: MessageRecord) -> dict[int, int]:
    """Inside the change's transaction, first: lock both users' stream rows."""
    with connection.cursor() as cursor:
        return streams.lock_streams(cursor, [record.sender_id, record.recipient_id])


def take_rev(last: dict[int, int], record: MessageRecord) -> int:
    """A fresh rev for the message, larger than any id of either user; written back to their streams."""
    rev = streams.take_id(last, record.sender_id, record.recipient_id)
    with connection.cursor() as cursor:
        streams.write_streams(cursor, last)
    return rev


def change_message(user_id: int, msg_id: int, change: Callable[[MessageRecord], list[str] | None]) -> dict:
    """Apply ``change`` to the locked row; a new rev, stored, projected and pushed once committed.

    ``change`` checks what it must (raising ``Forbidden`` and the like) and
    returns the fields it set, or None when nothing changes (then no new rev
    and no frame).
    """
    found = message_for(user_id, msg_id)
    streams.ensure_streams({found.sender_id, found.recipient_id})
    tries: list[int] = []

    def apply() -> dict:
        # Run again whole after a deadlock or a lost database (chat_project/common/dbretry.py).
        # A retry after a COMMIT whose answer was lost finds the change made: ``change``
        # answers None (same content, same reaction) and the message is answered as it is,
        # with the Redis copy and the frames the lost try's on_commit owed (harmless twice:
        # the copy is replaced only over an older rev, clients keep the largest rev).
        retried = bool(tries)
        tries.append(1)
        last = lock_participants(found)
        record = MessageRecord.objects.select_for_update().get(pk=found.pk)
        fields = change(record)
        if fields is None:
            message = message_dict(record)
            if retried:
                publish_change(message)
            return message
        record.rev = take_rev(last, record)
        record.save(update_fields=[*fields, "rev"])
        message = message_dict(record)
        publish_change(message)
        return message

    return run_transaction(apply, "message change")


def changed_frame(message: dict) -> dict:
    return {"type": "changed", "message": message}


def publish_change(message: dict, frames_for: dict[int, list[dict]] | None = None) -> None:
    """Once the transaction commits: the recent window, then ``changed`` (after ``frames_for``'s) to both users."""
    frames_for = frames_for or {}
    frame = changed_frame(message)
    users = (message["sender_id"], message["recipient_id"])
    frames = {user_id: [*frames_for.get(user_id, []), frame] for user_id in users}

    def after_commit() -> None:
        try:
            pipe = get_redis().pipeline(transaction=False)
            conversation_store.queue_replace(pipe, message)
            pipe.execute()
        except Exception:
            logger.warning("could not update Redis after a change of %s", message["msg_id"], exc_info=True)
        push_numbered(frames)

    transaction.on_commit(after_commit)


def push_numbered(frames: dict[int, list[dict]]) -> None:
    """Each user's frames as one event numbered like the fan-out's (messaging/push_sequence.py), pushed now.

    A socket the channel layer drops the event for (a full queue, a layer that
    lost its subscriptions with a Redis restart) sees the gap at a heartbeat
    and tells its client to sync; unnumbered, the client would show the old
    state until its next reconnect. Without Redis there is no number: the
    event goes without one.
    """
    try:
        seqs = store.next_push_seqs(list(frames))
    except Exception:
        logger.warning("could not number the events of a change", exc_info=True)
        seqs = {}
    push.send([push.to_user(user_id, each, seqs.get(user_id)) for user_id, each in frames.items()], quiet=True)
