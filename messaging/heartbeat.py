"""One heartbeat per daphne process for all of its sockets.

Every CHAT_HEARTBEAT_SECONDS the process refreshes the presence entry of each
of its sockets and reads each user's push counter, in one thread hop and two
Redis round trips whatever the number of sockets, then lets each socket act
on its own result (``ChatConsumer.after_beat``): tell watchers, re-join its
groups after a Redis loss, send ``resync`` after a lost push, check the users
it watches. A heartbeat task per socket cost a thread hop and three round
trips per socket per beat: 10,000 idle sockets kept a daphne busy. Only a
socket with something to do gets a task: an idle one's part is a few checks.
After the beat the process freezes what survived it (frozen_heap.py).

When the process stops (``stop_process_presence``, before daphne closes its
sockets: chat_project/daphne_close.py) the beats stop and every socket's
presence is unregistered at once, in one thread hop and a few round trips;
each socket's disconnect then skips its own unregistration. One by one,
5,000 sockets of a process took seconds of the stop.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Protocol

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from chat_project.common.frozen_heap import FrozenHeap
from profiles import presence
from profiles import store as presence_store

from . import store

logger = logging.getLogger(__name__)


class Beating(Protocol):
    user_id: int
    channel_name: str

    def after_beat(self, registration: presence_store.Registration, push_seq: int) -> Awaitable[None] | None: ...

    def unregistered(self, last_seen: str | None) -> None:
        """The process unregistered this socket's presence; ``last_seen`` when the user went offline with it."""


def _beat_all(sockets: list[tuple[int, str]]) -> tuple[list[presence_store.Registration], dict[int, int]]:
    registrations = presence_store.register_sockets(sockets)
    seqs = store.push_seqs(list({user_id for user_id, _ in sockets}))
    return registrations, seqs


class ProcessHeartbeat:
    def __init__(self) -> None:
        self.sockets: set[Beating] = set()
        self.stopping = False  # the process stops: no more beats (``stop``)
        self._task: asyncio.Task | None = None
        # Set while no beat is writing registrations: a closing socket waits for
        # it, so a beat in flight cannot re-register it after it unregistered.
        self._idle = asyncio.Event()
        self._idle.set()
        # The sockets' long-lived objects, frozen after each beat (frozen_heap.py).
        self.heap = FrozenHeap() if settings.CHAT_GC_FREEZE else None

    def add(self, socket: Beating) -> None:
        self.sockets.add(socket)
        if not self.stopping and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def remove(self, socket: Beating) -> None:
        self.sockets.discard(socket)
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception:
                logger.warning("heartbeat of %d socket(s) failed", len(self.sockets), exc_info=True)

    async def beat(self) -> None:
        if self.stopping:
            return
        sockets = list(self.sockets)
        if sockets:
            await self._beat(sockets)
        if self.heap is not None:
            self.heap.after_beat()

    async def _beat(self, sockets: list[Beating]) -> None:
        self._idle.clear()
        try:
            registrations, seqs = await sync_to_async(_beat_all, thread_sensitive=False)(
                [(s.user_id, s.channel_name) for s in sockets]
            )
        finally:
            self._idle.set()
        work = []
        for socket, registration in zip(sockets, registrations, strict=True):
            try:
                pending = socket.after_beat(registration, seqs.get(socket.user_id, 0))
            except Exception as exc:
                logger.warning("heartbeat of a socket failed: %s", exc)
                continue
            if pending is not None:
                work.append(pending)
        for result in await asyncio.gather(*work, return_exceptions=True):
            if isinstance(result, Exception):
                logger.warning("heartbeat of a socket failed: %s", result)

    async def stop(self) -> None:
        """No beat from now on, and every socket's presence unregistered at once; each socket is told."""
        self.stopping = True
        # A beat in flight finishes writing its registrations first (cancelled, its thread would still write
        # them, after the unregistration below); then the beats end.
        await self._idle.wait()
        if self._task is not None:
            self._task.cancel()
        sockets = list(self.sockets)
        if not sockets:
            return
        started = time.monotonic()
        last_seen = await database_sync_to_async(presence.unregister_sockets, thread_sensitive=False)(
            [(s.user_id, s.channel_name) for s in sockets]
        )
        logger.info(
            "stopping: %d socket(s) unregistered at once, %d user(s) offline, in %.0f ms",
            len(sockets),
            sum(seen is not None for seen in last_seen),
            (time.monotonic() - started) * 1000,
        )
        for socket, seen in zip(sockets, last_seen, strict=True):
            # The user's watchers hear "offline" once: from the last of their sockets here.
            socket.unregistered(seen)


_heartbeats: dict[int, ProcessHeartbeat] = {}


def process_heartbeat() -> ProcessHeartbeat:
    """The heartbeat of the running event loop (one per daphne process)."""
    loop = asyncio.get_running_loop()
    heartbeat = _heartbeats.get(id(loop))
    if heartbeat is None:
        heartbeat = _heartbeats[id(loop)] = ProcessHeartbeat()
    return heartbeat


async def stop_process_presence() -> None:
    """The process stops: its heartbeat ends and its sockets' presence goes, at once (see the module's doc)."""
    heartbeat = _heartbeats.get(id(asyncio.get_running_loop()))
    if heartbeat is not None:
        await heartbeat.stop()
