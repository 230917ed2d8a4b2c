"""Pushing frames to users' sockets through the channel layer.

Every socket of a user joins the group ``user.<id>``; a frame sent to the
group reaches each of them (PROTOCOL.md: every socket of a user gets that
user's events). The channel layer is at-most-once; clients close any gap
with ``sync``.

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

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EVENT_TYPE = "chat.event"
# A frame about a user some sockets watch -> ChatConsumer.chat_watched.
WATCHED_EVENT_TYPE = "chat.watched"
# Tells every socket of a user to close (the user was deactivated).
# PROTOCOL.md: a socket that fails authentication is closed with this code.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_EVENT = {"type": "chat.close", "code": CLOSE_UNAUTHENTICATED}


PUSH_TIMEOUT_SECONDS = 10


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


# Lists that tests hold open with ``capture()``: every frame pushed to a user
# by this process is appended as (user_id, frame), whatever the layer does.
_captures: list[list[tuple[int, dict]]] = []


@contextlib.contextmanager
def capture():
    """Record the frames this process pushes to users (the ``pushed_frames`` test fixture)."""
    frames: list[tuple[int, dict]] = []
    _captures.append(frames)
    try:
        yield frames
    finally:
        _captures.remove(frames)


def _record(user_id: int, frame: dict) -> None:
    for frames in _captures:
        frames.append((user_id, frame))


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _on_push_loop(send) -> None:
    """Run ``send(layer)`` on this process's push loop and wait for it (no-op without a layer)."""
    layer = get_channel_layer()
    if layer is None:
        return
    asyncio.run_coroutine_threadsafe(send(layer), _loop_thread.loop()).result(PUSH_TIMEOUT_SECONDS)


def push(events: list[tuple[int, dict]], raw: bool = False) -> None:
    """Send each (user_id, frame) to every socket of that user, each user's frames in order.

    With ``raw``, each item is a channel-layer event for the consumer itself
    (such as CLOSE_EVENT), not a frame for the client.
    """
    if not events:
        return
    if not raw:
        frames_by_user: dict[int, list[dict]] = {}
        for user_id, frame in events:
            frames_by_user.setdefault(user_id, []).append(frame)
        push_frames(frames_by_user)
        return

    async def send_all(layer) -> None:
        for user_id, event in events:
            await layer.group_send(user_group(user_id), event)
            _record(user_id, event)

    _on_push_loop(send_all)


def watch_group(user_id: int) -> str:
    """The sockets watching this user (PROTOCOL.md 1.1 ``watch``)."""
    return f"watch.{user_id}"


def watched_event(frame: dict) -> dict:
    """A frame about a watched user, for ChatConsumer.chat_watched."""
    return {"type": WATCHED_EVENT_TYPE, "frame": frame}


def push_to_watchers(user_id: int, frame: dict) -> None:
    """Send a frame about this user to every socket watching them; a lost one is only logged."""
    try:
        _on_push_loop(lambda layer: layer.group_send(watch_group(user_id), watched_event(frame)))
    except Exception:
        logger.warning("push to the watchers of user %s failed", user_id, exc_info=True)


def push_frames(frames_by_user: dict[int, list[dict]], seqs: dict[int, int] | None = None) -> None:
    """Send each user their frames (in order) as one event, every user concurrently.

    One group_send per user, not per frame: a batch's fan-out costs a few Redis
    round trips per user it reaches, and they overlap. ``seqs`` numbers each
    user's event (``PushSequence``).
    """
    seqs = seqs or {}
    if not frames_by_user:
        return

    async def send_all(layer) -> None:
        await asyncio.gather(
            *(
                layer.group_send(user_group(user_id), {"type": EVENT_TYPE, "frames": frames, "seq": seqs.get(user_id)})
                for user_id, frames in frames_by_user.items()
            )
        )
        for user_id, frames in frames_by_user.items():
            for frame in frames:
                _record(user_id, frame)

    _on_push_loop(send_all)


def push_quietly(events: list[tuple[int, dict]], raw: bool = False) -> None:
    """Push from a request after its commit: a lost frame is what sync is for, never a failed request."""
    try:
        push(events, raw=raw)
    except Exception:
        logger.warning("push of %d frame(s) failed; clients will catch up with sync", len(events), exc_info=True)


class PushSequence:
    """Tells a socket that it missed one of its user's fan-out events.

    The channel layer drops events when a process's queue is full or an event
    expires (DESIGN.md), silently. Each fan-out event to a user carries the
    next number of a per-user counter; a socket notes the numbers it received,
    and at each heartbeat checks that everything numbered up to the counter
    as it stood at the previous heartbeat arrived (one heartbeat of grace for
    events still in flight). A gap means a push was lost: the socket sends
    ``resync`` and its client catches up with ``sync``.
    """

    def __init__(self, current: int) -> None:
        self.done = current  # every event numbered up to here arrived (or came before this socket)
        self.ahead: set[int] = set()
        self.checkpoint: int | None = None

    def saw(self, seq: int) -> None:
        if seq <= self.done:
            return
        self.ahead.add(seq)
        while self.done + 1 in self.ahead:
            self.done += 1
            self.ahead.discard(self.done)

    def check(self, current: int) -> bool:
        """At a heartbeat, with the counter's value now: was an event lost?"""
        missed = False
        if current < self.done:
            # The counter restarted (a Redis flush); the registration repair resyncs.
            self.done, self.ahead = current, set()
        elif self.checkpoint is not None and self.done < self.checkpoint:
            missed = True
            self.done = self.checkpoint
            self.ahead = {seq for seq in self.ahead if seq > self.done}
            while self.done + 1 in self.ahead:
                self.done += 1
                self.ahead.discard(self.done)
        self.checkpoint = current
        return missed
