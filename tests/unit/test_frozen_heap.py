"""A daphne's heap is frozen after each beat; its garbage waits for a quarter's growth (common/frozen_heap.py)."""

import gc
import weakref

import pytest

from chat_project.common.frozen_heap import FrozenHeap

pytestmark = pytest.mark.unit


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed():
    gc.collect()
    gc.freeze()  # what a daphne froze at startup
    yield
    gc.unfreeze()
    gc.collect()


def cycle_alive_at_a_beat(heap: FrozenHeap) -> weakref.ref:
    """A cycle alive when a beat freezes the heap, then dropped (as a closed socket's objects are)."""
    node = Node()
    ref = weakref.ref(node)
    heap.after_beat()
    del node
    return ref


def test_a_beat_collects_young_garbage_and_leaves_frozen_garbage_to_a_full_collection():
    heap = FrozenHeap()
    frozen = cycle_alive_at_a_beat(heap)
    young = Node()
    young_ref = weakref.ref(young)
    del young

    heap.after_beat()
    gc.collect()  # what CPython runs by itself walks no frozen object either

    assert young_ref() is None
    assert frozen() is not None


def test_an_idle_heap_never_walks_its_frozen_objects():
    heap = FrozenHeap()
    garbage = cycle_alive_at_a_beat(heap)
    for _ in range(50):
        heap.after_beat()
    assert garbage() is not None
    assert not heap.full_due()


def test_a_full_collection_runs_once_a_quarter_of_the_kept_heap_was_frozen_since():
    heap = FrozenHeap()
    garbage = cycle_alive_at_a_beat(heap)
    quarter = heap.kept // 4
    sockets = [[Node() for _ in range(100)] for _ in range(quarter // 200)]  # new sockets: an eighth
    heap.after_beat()
    assert garbage() is not None

    sockets += [[Node() for _ in range(100)] for _ in range(quarter // 200 + 10)]  # past a quarter
    heap.after_beat()
    assert heap.full_due()
    heap.after_beat()
    assert garbage() is None
    assert heap.added == 0
    assert heap.kept >= len(sockets) * 100


def test_a_celery_pool_process_freezes_its_startup_heap():
    from celery.signals import worker_process_init

    import chat_project.celery  # noqa: F401 - connects the handler

    gc.unfreeze()
    worker_process_init.send(sender=None)
    assert gc.get_freeze_count() > 0
