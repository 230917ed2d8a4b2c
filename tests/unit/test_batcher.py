"""Calls made while a batch runs go together in the next one (chat_project/common/batcher.py)."""

import asyncio
import threading

import pytest

from chat_project.common.batcher import Batcher

pytestmark = pytest.mark.unit


class Recorder:
    """``run_many`` that records its batches; the first waits for ``release`` while later calls arrive."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()  # the first batch runs
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(5)
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * 10 for item in items]


async def started(batcher: Batcher, item: int) -> asyncio.Task:
    task = asyncio.ensure_future(batcher(item))
    await asyncio.sleep(0)
    return task


async def asked_while_the_first_runs(batcher: Batcher, recorder: Recorder, items) -> tuple[asyncio.Task, list]:
    """Item 1 alone in a batch that runs until ``recorder.release``; ``items`` asked for meanwhile."""
    first = await started(batcher, 1)
    assert await asyncio.to_thread(recorder.entered.wait, 5)
    return first, [await started(batcher, n) for n in items]


def test_calls_made_while_a_batch_runs_go_together_in_the_next_in_order():
    recorder = Recorder()
    batcher = Batcher(recorder)

    async def scenario():
        first, later = await asked_while_the_first_runs(batcher, recorder, range(2, 52))
        recorder.release.set()
        assert await first == 10
        assert await asyncio.gather(*later) == [n * 10 for n in range(2, 52)]

    asyncio.run(scenario())
    assert recorder.batches == [[1], list(range(2, 52))]


def test_a_batch_holds_at_most_its_limit():
    recorder = Recorder()
    recorder.release.set()
    batcher = Batcher(recorder, limit=4)

    async def scenario():
        return await asyncio.gather(*(batcher(n) for n in range(10)))

    assert asyncio.run(scenario()) == [n * 10 for n in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_runs():
    recorder = Recorder()
    batcher = Batcher(recorder)

    async def scenario():
        first, doomed = await asked_while_the_first_runs(batcher, recorder, (2, -3, 4))
        recorder.release.set()
        assert await first == 10
        results = await asyncio.gather(*doomed, return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        assert await batcher(5) == 50

    asyncio.run(scenario())
    assert recorder.batches == [[1], [2, -3, 4], [5]]


def test_a_caller_that_gives_up_leaves_its_item_in_the_batch_and_the_others_get_theirs():
    recorder = Recorder()
    batcher = Batcher(recorder)

    async def scenario():
        first, later = await asked_while_the_first_runs(batcher, recorder, (2, 3, 4))
        later[1].cancel()
        recorder.release.set()
        assert await first == 10
        results = await asyncio.gather(*later, return_exceptions=True)
        assert results[0] == 20 and isinstance(results[1], asyncio.CancelledError) and results[2] == 40

    asyncio.run(scenario())
    assert recorder.batches == [[1], [2, 3, 4]]


def test_one_batcher_serves_one_event_loop_after_another():
    recorder = Recorder()
    recorder.release.set()
    batcher = Batcher(recorder)
    assert asyncio.run(batcher(1)) == 10
    assert asyncio.run(batcher(2)) == 20
