"""Reading messages back: a conversation's history pages and the sync catch-up."""

from conversations.services import get_conversation_for

from .models import MessageRecord, MessageStream
from .payloads import message_dict


def list_messages(user_id: int, conversation_id: int, limit: int, before: int | None, after: int | None) -> dict:
    """A page of a conversation, ascending by msg_id (PROTOCOL.md's cursor rules)."""
    conversation = get_conversation_for(user_id, conversation_id)
    rows = MessageRecord.objects.filter(session_id=conversation.pk)
    if after is not None:
        page = list(rows.filter(msg_id__gt=after).order_by("msg_id")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
    else:
        if before is not None:
            rows = rows.filter(msg_id__lt=before)
        page = list(rows.order_by("-msg_id")[: limit + 1])
        has_more = len(page) > limit
        page = list(reversed(page[:limit]))
    return {"results": [message_dict(r) for r in page], "has_more": has_more}


def sync_messages(user_id: int, since: int, limit: int) -> dict:
    """Every message the user sent or received after ``since``, and a cursor that skips nothing.

    A user's message ids are handed out in commit order (the send path takes
    them while it holds the user's stream row, messaging/accept.py): once id X
    of this user is visible, every smaller id of this user is visible too or
    never will be. So ``next_since`` is simply the last id returned, and a
    client that continues from it, or from any msg_id it holds, misses nothing
    (docs/architecture.md, "Sync is gap-free").
    """
    # Two index range scans, (recipient, msgId) and (sender, msgId), in ONE
    # statement: one read view, so the proof above holds across both halves
    # (two queries could see a received id that commits between them missing
    # while a later sent id is there).
    received = MessageRecord.objects.filter(recipient_id=user_id, msg_id__gt=since).order_by("msg_id")[: limit + 1]
    sent = MessageRecord.objects.filter(sender_id=user_id, msg_id__gt=since).order_by("msg_id")[: limit + 1]
    merged = list(received.union(sent, all=True).order_by("msg_id")[: limit + 1])
    has_more = len(merged) > limit
    page = merged[:limit]
    next_since = page[-1].msg_id if page else since
    return {"results": [message_dict(r) for r in page], "has_more": has_more, "next_since": next_since}


def sync_position(user_id: int) -> int:
    """A sync cursor for a new device: the user's newest committed message id (PROTOCOL.md 1.2).

    The stream row holds the largest id of the user's messages, written in the
    transaction that committed that message; by the invariant above every
    smaller id of the user is visible already. So a device that takes this
    first, then loads the conversation list and the history it wants, and then
    syncs from it, misses nothing in between.
    """
    last = MessageStream.objects.filter(user_id=user_id).values_list("last_msg_id", flat=True).first()
    return last or 0
