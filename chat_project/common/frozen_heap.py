"""Keep CPython's garbage collector off a daphne's long-lived heap.

CPython 3.11 walks every tracked object of the process in a full collection,
and runs one whenever the objects that survived into the oldest generation
since the last one pass a quarter of it. A daphne holding 7,500 idle sockets
tracks about 1.3 million objects (some 175 per socket, alive as long as the
socket). The heartbeat's short-lived objects passed the quarter every 20 s,
and each full collection stopped the event loop for 1.0-1.5 s: every frame,
push and request of the process waited (docs/benchmarks.md, "A hundred
thousand sockets").

So the collector walks only what is young:

- the heap of startup (Django, the URL conf, the modules) is frozen once:
  ``gc.freeze`` moves every tracked object to a generation the collector
  never walks;
- after each heartbeat, what survived since the last beat (a collection of
  the young objects alone) is frozen too;
- a frozen object that later becomes garbage inside a reference cycle (a
  closed socket leaves about 66 such objects: its consumer, its protocol,
  their tasks) is found only by a full collection. One runs once the objects
  frozen since the last one reach a quarter of those it left: CPython's own
  rule, counted on what stayed alive through a beat instead of on every
  promotion. Sockets that close and reconnect, or a heap that grows, pass it
  after a quarter of the heap; an idle process never does.

Objects freed by their reference count (most garbage) leave the frozen
generation at once; freezing changes only what the collector walks.
"""

import gc
import logging
import time

logger = logging.getLogger(__name__)

# A full collection runs once the objects frozen since the last one reach this share of those it left.
GROWTH = 0.25


def freeze_startup() -> None:
    """Freeze what the process holds once it is ready to serve (after a collection of its garbage)."""
    gc.collect()
    gc.freeze()


class FrozenHeap:
    """One per daphne process; the process heartbeat calls ``after_beat``."""

    def __init__(self) -> None:
        self.kept = gc.get_freeze_count()  # objects frozen after the last full collection (or when this started)
        self.added = 0  # objects frozen since

    def full_due(self) -> bool:
        return self.added > self.kept * GROWTH

    def after_beat(self) -> None:
        """Collect and freeze the young objects; walk the whole heap when a full collection is due."""
        if self.full_due():
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            self.kept, self.added = len(gc.get_objects(2)), 0
            gc.freeze()
            logger.info(
                "full collection: %d unreachable object(s), %d kept, %.0f ms",
                found,
                self.kept,
                (time.perf_counter() - started) * 1000,
            )
            return
        gc.collect()  # walks only what is not frozen: what survived since the last beat
        self.added += len(gc.get_objects(2))  # the survivors, all in the oldest generation now
        gc.freeze()
