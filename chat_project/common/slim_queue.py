"""A socket's inbox with nothing allocated while it is empty: in place of ``asyncio.Queue`` where one task reads.

Every socket has two inboxes: daphne's (the frames the client sends) and the
channel layer's (the events pushed to it). An ``asyncio.Queue`` makes four
deques and an ``Event`` when it is created, about 3 KB that an idle socket
holds for its whole life, empty (scripts/bench/heap.py; docs/benchmarks.md,
"Where a socket's memory goes"). This one holds two slots: the items, a deque
made by the first ``put_nowait`` and dropped once read empty, and the
reader's future while it waits.

It offers what its two users call: ``put_nowait``, ``get``, ``get_nowait``,
``empty`` and ``qsize``; and ``on_put``, called with each item as it is put
(the consumer stamps a frame's arrival: messaging/admission.py). Unbounded,
as the queues it replaces are (the server bounds what reaches them:
messaging/admission.py, the frame rate).
One task reads: a second ``get`` while one waits is a programming error and
raises at once rather than leave one of them waiting for ever.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class SlimQueue:
    __slots__ = ("_items", "_reader", "on_put")

    def __init__(self) -> None:
        self._items: deque | None = None
        self._reader: asyncio.Future | None = None
        self.on_put: Callable[[Any], None] | None = None

    def put_nowait(self, item) -> None:
        if self.on_put is not None:
            self.on_put(item)
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def get(self):
        while self._items is None:
            if self._reader is not None:
                raise RuntimeError("SlimQueue: a second reader while one waits")
            reader = self._reader = asyncio.get_running_loop().create_future()
            try:
                await reader
            finally:
                self._reader = None
        return self._take(self._items)

    def get_nowait(self):
        if self._items is None:
            raise asyncio.QueueEmpty
        return self._take(self._items)

    def empty(self) -> bool:
        return self._items is None

    def qsize(self) -> int:
        return 0 if self._items is None else len(self._items)

    def _take(self, items: deque):
        """The oldest item; the deque goes with the last one (``_items`` is None exactly when empty)."""
        item = items.popleft()
        if not items:
            self._items = None
        return item


async def wait_either(first: SlimQueue, second: SlimQueue) -> None:
    """Until either holds an item: one future for both, resolved by the first put into either.

    What lets a socket's consumer read its two inboxes (the client's frames
    and the pushed events) without a task waiting on each (messaging/consumers.py).
    """
    if first._items is not None or second._items is not None:
        return
    if first._reader is not None or second._reader is not None:
        raise RuntimeError("SlimQueue: a second reader while one waits")
    waiter = asyncio.get_running_loop().create_future()
    first._reader = second._reader = waiter
    try:
        await waiter
    finally:
        first._reader = second._reader = None
