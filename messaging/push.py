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
# Tells every socket of a user to close (the user was deactivated).
CLOSE_EVENT = {"type": "chat.close", "code": 4401}


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def push(events: list[tuple[int, dict]], raw: bool = False) -> None:
    """Send each (user_id, frame) to every socket of that user.

    With ``raw``, each item is a channel-layer event for the consumer itself
    (such as CLOSE_EVENT), not a frame for the client.
    """
    if not events:
        return
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for user_id, frame in events:
            event = frame if raw else {"type": EVENT_TYPE, "frame": frame}
            await layer.group_send(user_group(user_id), event)

    async_to_sync(send_all)()


def push_quietly(events: list[tuple[int, dict]], raw: bool = False) -> None:
    """Push from a request after its commit: a lost frame is what sync is for, never a failed request."""
    try:
        push(events, raw=raw)
    except Exception:
        logger.warning("push of %d frame(s) failed; clients will catch up with sync", len(events), exc_info=True)
