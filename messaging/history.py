"""Reading messages back: a conversation's history pages and the sync catch-up."""

import time

from django.conf import settings

from conversations.services import get_conversation_for

from .ids import id_floor_for_time
from .models import MessageRecord
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

    Ids are taken before their rows commit, so a smaller id may appear after
    a larger one. An accept that has not committed CHAT_ACCEPT_DEADLINE_SECONDS
    after taking its id never will, so everything below the id of (now -
    deadline) is final: ``next_since`` never passes that point.
    """
    safe_point = id_floor_for_time(time.time() - settings.CHAT_ACCEPT_DEADLINE_SECONDS)
    # Two index range scans (sender, msgId) and (recipient, msgId), merged.
    received = MessageRecord.objects.filter(recipient_id=user_id, msg_id__gt=since).order_by("msg_id")[: limit + 1]
    sent = MessageRecord.objects.filter(sender_id=user_id, msg_id__gt=since).order_by("msg_id")[: limit + 1]
    merged = sorted({r.msg_id: r for r in [*received, *sent]}.values(), key=lambda r: r.msg_id)
    has_more = len(merged) > limit
    page = merged[:limit]
    if has_more:
        next_since = min(page[-1].msg_id, safe_point)
        if next_since < since:
            # A cursor the client took beyond the safe point (its own largest
            # msg_id) and a flood newer than the safe point fills the whole page:
            # move on rather than answer the same page until the safe point
            # catches up. A cursor equal to the safe point (the previous call
            # came in the same millisecond) stays: jumping would pass messages
            # that are still being written.
            next_since = page[-1].msg_id
    else:
        # Everything visible after ``since`` is in this page, and nothing
        # below the safe point can still appear.
        next_since = max(since, safe_point)
    return {"results": [message_dict(r) for r in page], "has_more": has_more, "next_since": next_since}
