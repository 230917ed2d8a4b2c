"""The heap a daphne keeps is frozen after each beat; garbage in it waits for churn or time (common/frozen_heap.py)."""

import gc
import weakref

import pytest

from chat_project.common.frozen_heap import MIN_CLOSED, FrozenHeap

pytestmark = pytest.mark.unit


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def thawed():
    yield
    gc.unfreeze()
    gc.collect()


def cycle_alive_at_a_beat(heap: FrozenHeap, open_sockets: int) -> weakref.ref:
    """A cycle that is alive when the beat freezes the heap, then dropped (as a closed socket's objects are)."""
    node = Node()
    ref = weakref.ref(node)
    heap.after_beat(open_sockets)
    del node
    return ref


def test_a_beat_collects_young_garbage_and_leaves_frozen_garbage_to_a_full_collection():
    clock = Clock()
    heap = FrozenHeap(full_every=600, clock=clock)
    frozen = cycle_alive_at_a_beat(heap, open_sockets=1000)
    young = Node()
    young_ref = weakref.ref(young)
    del young

    heap.after_beat(1000)
    gc.collect()  # what CPython runs by itself walks no frozen object either

    assert young_ref() is None
    assert frozen() is not None


def test_a_full_collection_runs_once_a_quarter_of_the_open_sockets_closed():
    heap = FrozenHeap(full_every=600, clock=Clock())
    garbage = cycle_alive_at_a_beat(heap, open_sockets=1000)
    for _ in range(249):
        heap.socket_closed()
    heap.after_beat(1000)
    assert garbage() is not None

    heap.socket_closed()
    assert heap.full_due(1000)
    heap.after_beat(1000)
    assert garbage() is None
    assert heap.closed == 0


def test_few_open_sockets_wait_for_the_minimum_of_closed_ones():
    heap = FrozenHeap(full_every=600, clock=Clock())
    for _ in range(MIN_CLOSED - 1):
        heap.socket_closed()
    assert not heap.full_due(0)
    heap.socket_closed()
    assert heap.full_due(0)


def test_a_full_collection_runs_when_full_every_has_passed_without_churn():
    clock = Clock()
    heap = FrozenHeap(full_every=600, clock=clock)
    garbage = cycle_alive_at_a_beat(heap, open_sockets=10)
    clock.now += 599
    heap.after_beat(10)
    assert garbage() is not None

    clock.now += 1
    heap.after_beat(10)
    assert garbage() is None
    assert not heap.full_due(10)  # the clock starts again
