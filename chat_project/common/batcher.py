"""Calls of one blocking function made while a batch of them runs go together in the next one.

A daphne process runs its sockets' blocking work (Redis, the database) in
the event loop's thread pool, one thread hop per call. When thousands of
sockets open or close at once (a restart, the clients' return), those hops
queue on six threads that take the interpreter lock in turns with a busy
event loop: in the bench's restart of 10,000 sockets, a process still
opening sockets after ten seconds had thousands of consumers killed by
daphne, and its connect gate refused everyone meanwhile (docs/benchmarks.md,
"The reconnect storm's queue"). A ``Batcher`` turns the calls made while one
batch runs into the next batch: one thread hop and a few round trips for all
of them, the same one hop as before for a call alone. Nothing waits for a
batch to fill.

Each caller gets its own result, or the batch's exception. A caller that
gives up (cancelled) does not stop the batch: its item is still done, as a
thread already started would have done it.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """``await batcher(item)``: ``run_many([..., item, ...])``'s answer for ``item``, in a thread.

    ``run_many`` takes the items in the order they were asked for and returns
    one result per item, in that order. It runs through
    ``database_sync_to_async`` (old database connections are closed around
    it), never two batches of one Batcher at once, at most ``limit`` items a
    batch.
    """

    def __init__(self, run_many: Callable[[list[Item]], Sequence[Result]], limit: int = 1000) -> None:
        self.run_many = database_sync_to_async(run_many, thread_sensitive=False)
        self.limit = limit
        self._waiting: list[tuple[Item, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one Batcher per process, but a test may run several loops in turn
            self._loop, self._waiting, self._runner = loop, [], None
        done = loop.create_future()
        self._waiting.append((item, done))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        return await done

    async def _run(self) -> None:
        batch: list[tuple[Item, asyncio.Future]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
                try:
                    results = await self.run_many([item for item, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for (_, done), result in zip(batch, results, strict=True):
                        if not done.done():
                            done.set_result(result)
                batch = []
        finally:
            # Cancelled (the loop ends): nobody waits for ever on a batch that will not run.
            for _, done in (*batch, *self._waiting):
                if not done.done():
                    done.cancel()
