"""Reading: mark read, and the read receipts (``peer_read_up_to``) that follow from message rows.

Mark read composes the apps below: the conversation (membership, the
receipts' Redis copy), the unread counter, and this app's message rows, in
one transaction that locks the counter row before the message rows
(unread/services.py). The reader's sockets get an ``unread`` frame, the peer
a ``read`` receipt, once it has committed.
"""

import logging
from typing import cast

from django.db.models import Q, QuerySet

from chat_project.common import push
from chat_project.common.dbretry import run_transaction
from conversations import store as conversation_store
from conversations.services import get_conversation_for
from unread import services as unread_services
from unread.models import UnreadCounter
from unread.store import CounterCopy

from .models import MessageRecord

logger = logging.getLogger(__name__)


def mark_read(user_id: int, conversation_id: int, up_to: int | None) -> dict:
    """Mark read every message the user received here with msg_id <= up_to (all when None)."""
    conversation = get_conversation_for(user_id, conversation_id)
    # cast: get_conversation_for answers only conversations with a last message.
    receipt_up_to = up_to if up_to is not None else cast(int, conversation.last_msg_id)

    def read() -> tuple[UnreadCounter, CounterCopy]:
        # Run again whole after a deadlock or a lost database (chat_project/common/dbretry.py):
        # a try that did commit left no unread row to count, so the counts stay right.
        counter = unread_services.lock_counter(conversation.pk, user_id)
        rows = MessageRecord.objects.filter(session_id=conversation.pk, recipient_id=user_id, is_read=False)
        if up_to is not None:
            rows = rows.filter(msg_id__lte=up_to)
        newly_read = rows.update(is_read=True)
        receipt_msg_id: int | None = 0
        if newly_read or receipt_up_to > counter.last_read_msg_id:
            position = max(counter.last_read_msg_id, receipt_up_to)
            receipt_msg_id = _newest_read(conversation.pk, user_id, position).values_list("msg_id", flat=True).first()
        unread_services.count_read(counter, newly_read, receipt_up_to, receipt_msg_id or 0)
        return counter, unread_services.counter_copy(counter)

    counter, copy = run_transaction(read, "mark read")
    try:
        unread_services.publish(user_id, [copy])
        if counter.read_receipt_msg_id:
            conversation_store.record_peer_read(
                conversation.peer_id(user_id), conversation.pk, counter.read_receipt_msg_id
            )
    except Exception:
        logger.warning("could not copy the unread counter of user %s to Redis", user_id, exc_info=True)
    receipt = {"type": "read", "conversation_id": conversation.pk, "reader_id": user_id, "up_to": receipt_up_to}
    push.send(
        [
            push.to_user(user_id, [unread_services.unread_frame(user_id, conversation.pk)]),
            push.to_user(conversation.peer_id(user_id), [receipt]),
        ],
        quiet=True,
    )
    return {"conversation_id": conversation.pk, "unread": copy.unread}


# --- read receipts: peer_read_up_to ----------------------------------------------
#
# For a viewer V and peer P in conversation C, ``peer_read_up_to`` is the
# largest msg_id of V's messages to P that P has read: received by P, read
# (``isRead``), and at or below P's read position (``last_read_msg_id``).
# Both conditions only ever grow, so the value never goes back, and the
# unread index (recipient, session, isRead, msgId) answers it in one dive.
# ``isRead`` keeps a read position beyond the newest message (a client's
# ``up_to``) from counting messages sent after the read. Mark-read takes that
# dive and keeps the answer on P's counter row (``read_receipt_msg_id``), and
# so does a recall that turns an unread message below P's position into a read
# one (messaging.recall); both raise V's Redis hash too (max-only). After a
# flush, ``rebuild_peer_reads`` reads the counter rows: one row per
# conversation, no dive (a user with 1,500 conversations took 70-190 ms of
# dives, the largest part of their cold conversation list).


def _newest_read(conversation_id: int, reader_id: int, read_up_to: int) -> QuerySet[MessageRecord]:
    return MessageRecord.objects.filter(
        session_id=conversation_id, recipient_id=reader_id, is_read=True, msg_id__lte=read_up_to
    ).order_by("-msg_id")


def rebuild_peer_reads_many(peers_by_user: dict[int, dict[int, int]], chunk: int = 2000) -> None:
    """``rebuild_peer_reads`` for a batch of users, given their {conversation_id: peer_id} (``rebuild_redis``).

    The peers' counters by conversation id; a conversation between two users
    of the batch serves both.
    """
    wanted = {(cid, peer): user_id for user_id, peers in peers_by_user.items() for cid, peer in peers.items()}
    positions: dict[int, dict[int, int]] = {user_id: {} for user_id in peers_by_user}
    cids = sorted({cid for cid, _ in wanted})
    for start in range(0, len(cids), chunk):
        rows = UnreadCounter.objects.filter(
            conversation_id__in=cids[start : start + chunk], read_receipt_msg_id__gt=0
        ).values_list("conversation_id", "user_id", "read_receipt_msg_id")
        for cid, reader_id, up_to in rows:
            user_id = wanted.get((cid, reader_id))
            if user_id is not None:
                positions[user_id][cid] = up_to
    conversation_store.write_many_peer_reads(positions)


def peer_reads_in(user_id: int, conversation_ids: list[int]) -> dict[int, int]:
    """The user's ``peer_read_up_to`` of these conversations, from the database, Redis left as it is (a cold page)."""
    rows = (
        UnreadCounter.objects.filter(conversation_id__in=conversation_ids, read_receipt_msg_id__gt=0)
        .exclude(user_id=user_id)
        .values_list("conversation_id", "read_receipt_msg_id")
    )
    return dict(rows)


def rebuild_peer_reads(user_id: int) -> dict[int, int]:
    """The user's ``peer_read_up_to`` of every conversation, from the database, merged into Redis."""
    rows = (
        UnreadCounter.objects.filter(Q(conversation__user_low_id=user_id) | Q(conversation__user_high_id=user_id))
        .exclude(user_id=user_id)
        .filter(read_receipt_msg_id__gt=0)
        .values_list("conversation_id", "read_receipt_msg_id")
    )
    positions = dict(rows)
    conversation_store.write_peer_reads(user_id, positions)
    return positions
