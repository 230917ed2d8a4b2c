"""Pushing frames to users' sockets through the channel layer.

Every socket of a user joins the group ``user.<id>``; a frame sent to the
group reaches each of them (PROTOCOL.md: every socket of a user gets that
user's events). The channel layer is at-most-once; clients close any gap
with ``sync``. A batch goes out under one ``async_to_sync`` (one event loop
instead of one per frame, see DESIGN.md).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EVENT_TYPE = "chat.event"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def push(events: list[tuple[int, dict]]) -> None:
    """Send each (user_id, frame) to every socket of that user."""
    if not events:
        return
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for user_id, frame in events:
            await layer.group_send(user_group(user_id), {"type": EVENT_TYPE, "frame": frame})

    async_to_sync(send_all)()


def push_quietly(events: list[tuple[int, dict]]) -> None:
    """Push from a request after its commit: a lost frame is what sync is for, never a failed request."""
    try:
        push(events)
    except Exception:
        logger.warning("push of %d frame(s) failed; clients will catch up with sync", len(events), exc_info=True)


def unread_frame(conversation_id: int, unread: int, total: int) -> dict:
    return {"type": "unread", "conversation_id": conversation_id, "unread": unread, "total": total}
