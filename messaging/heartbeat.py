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
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from chat_project.common.frozen_heap import FrozenHeap
from profiles import store as presence_store

from . import store

logger = logging.getLogger(__name__)


class Beating(Protocol):
    user_id: int
    channel_name: str

    def after_beat(self, registration: presence_store.Registration, push_seq: int) -> Awaitable[None] | None: ...


def _beat_all(sockets: list[tuple[int, str]]) -> tuple[list[presence_store.Registration], dict[int, int]]:
    registrations = presence_store.register_sockets(sockets)
    seqs = store.push_seqs(list({user_id for user_id, _ in sockets}))
    return registrations, seqs


class ProcessHeartbeat:
    def __init__(self) -> None:
        self.sockets: set[Beating] = set()
        self._task: asyncio.Task | None = None
        # Set while no beat is writing registrations: a closing socket waits for
        # it, so a beat in flight cannot re-register it after it unregistered.
        self._idle = asyncio.Event()
        self._idle.set()
        # The sockets' long-lived objects, frozen after each beat (frozen_heap.py).
        self.heap = FrozenHeap() if settings.CHAT_GC_FREEZE else None

    def add(self, socket: Beating) -> None:
        self.sockets.add(socket)
        if self._task is None or self._task.done():
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


_heartbeats: dict[int, ProcessHeartbeat] = {}


def process_heartbeat() -> ProcessHeartbeat:
    """The heartbeat of the running event loop (one per daphne process)."""
    loop = asyncio.get_running_loop()
    heartbeat = _heartbeats.get(id(loop))
    if heartbeat is None:
        heartbeat = _heartbeats[id(loop)] = ProcessHeartbeat()
    return heartbeat
