"""The one way out: every frame to a client's sockets leaves through ``send`` (or ``asend`` on an event loop).

Every socket of a user joins the group ``user.<id>``; an event sent to the
group reaches each of them (PROTOCOL.md: every socket of a user gets that
user's events). Sockets watching a user (PROTOCOL.md 1.1 ``watch``) join
``watch.<id>``. The channel layer is at-most-once; clients close any gap
with ``sync``.

What to send is built with ``to_user`` (frames for a user, in order),
``close_sockets`` (close a user's sockets with 4401) and ``to_watchers``
(a presence or profile frame about a user). ``send`` sends once the
current transaction commits (at once outside one): a frame never tells of
something that could still roll back. Tests see everything sent through
``capture()`` (the ``pushed_frames`` fixture), whatever the layer does.

Sync callers (Celery tasks, request threads) hand their batch to one event
loop that lives in a background thread of the process. ``async_to_sync``
would start a new loop per call, and channels-redis keeps its connection
pool per loop, so every push would open a fresh Redis connection
(DESIGN.md measured 5.6 ms a call that way).
"""

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from typing import NamedTuple

from channels.layers import get_channel_layer
from django.db import transaction

from .limits import CLOSE_UNAUTHENTICATED

logger = logging.getLogger(__name__)

# Channel-layer event types, handled by messaging.consumers.ChatConsumer:
# "chat.event" -> chat_event, "chat.watched" -> chat_watched, "chat.close" -> chat_close,
# "chat.blocks" -> chat_blocks.
EVENT_TYPE = "chat.event"
WATCHED_EVENT_TYPE = "chat.watched"
CLOSE_EVENT_TYPE = "chat.close"
BLOCKS_EVENT_TYPE = "chat.blocks"

PUSH_TIMEOUT_SECONDS = 10


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def watch_group(user_id: int) -> str:
    """The sockets watching this user (PROTOCOL.md 1.1 ``watch``)."""
    return f"watch.{user_id}"


class Watchers(NamedTuple):
    """Who a watched frame goes to, as ``capture()`` records it: the sockets watching ``user_id``."""

    user_id: int


class Out(NamedTuple):
    """One channel-layer event for one group, and what ``capture()`` records of it."""

    group: str
    event: dict
    seen: list[tuple[int | Watchers, dict]]


def to_user(user_id: int, frames: list[dict], seq: int | None = None) -> Out:
    """Frames for every socket of a user, in order, as one event; ``seq`` numbers it (fan-out)."""
    return Out(user_group(user_id), {"type": EVENT_TYPE, "frames": frames, "seq": seq}, [(user_id, f) for f in frames])


def close_sockets(user_id: int, token: str | None = None) -> Out:
    """Close the user's sockets with 4401: all of them, or those opened with ``token`` (a revoked token)."""
    event = {"type": CLOSE_EVENT_TYPE, "code": CLOSE_UNAUTHENTICATED, "token": token}
    return Out(user_group(user_id), event, [(user_id, {"type": "close", "code": CLOSE_UNAUTHENTICATED})])


def blocks_changed(user_id: int) -> Out:
    """The user's blocks changed (PROTOCOL.md 1.2): their sockets reload them; nothing reaches the client."""
    return Out(user_group(user_id), {"type": BLOCKS_EVENT_TYPE}, [])


def to_watchers(user_id: int, frame: dict) -> Out:
    """A presence or profile frame about ``user_id`` for every socket watching them."""
    return Out(watch_group(user_id), {"type": WATCHED_EVENT_TYPE, "frame": frame}, [(Watchers(user_id), frame)])


def send(outs: Iterable[Out], *, quiet: bool = False) -> None:
    """Send once the current transaction commits (at once outside one); each group's events in order.

    Every group is sent to concurrently. ``quiet``: a failure is logged, not
    raised; a lost frame is what ``sync`` is for, never a failed request.
    Otherwise the caller (the fan-out task) sees the failure and retries.
    """
    outs = list(outs)
    if outs:
        transaction.on_commit(lambda: _send_now(outs, quiet))


async def asend(outs: Iterable[Out]) -> None:
    """``send`` on an event loop (a consumer, where no transaction is open): at once."""
    outs = list(outs)
    layer = get_channel_layer()
    if outs and layer is not None:
        await _send_all(layer, outs)


def _send_now(outs: list[Out], quiet: bool) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            future = asyncio.run_coroutine_threadsafe(_send_all(layer, outs), _loop_thread.loop())
            future.result(PUSH_TIMEOUT_SECONDS)
    except Exception:
        if not quiet:
            raise
        logger.warning("push of %d event(s) failed; clients will catch up with sync", len(outs), exc_info=True)


async def _send_all(layer, outs: list[Out]) -> None:
    by_group: dict[str, list[Out]] = {}
    for out in outs:
        by_group.setdefault(out.group, []).append(out)

    async def send_group(group_outs: list[Out]) -> None:
        for out in group_outs:
            await layer.group_send(out.group, out.event)
            for frames in _captures:
                frames.extend(out.seen)

    await asyncio.gather(*(send_group(group_outs) for group_outs in by_group.values()))


class _LoopThread:
    """One long-lived event loop per process (a forked child makes its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="push-loop", daemon=True).start()
            return self._loop


_loop_thread = _LoopThread()


# Lists that tests hold open with ``capture()``: everything this process
# sends is appended as (user_id or Watchers(user_id), frame).
_captures: list[list[tuple[int | Watchers, dict]]] = []


@contextlib.contextmanager
def capture():
    """Record the frames this process sends (the ``pushed_frames`` test fixture)."""
    frames: list[tuple[int | Watchers, dict]] = []
    _captures.append(frames)
    try:
        yield frames
    finally:
        _captures.remove(frames)
