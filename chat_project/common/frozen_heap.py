"""Keep CPython's garbage collector off a daphne's long-lived heap.

CPython 3.11 walks every tracked object of the process in a full collection,
and runs one whenever the objects that survived into the oldest generation
since the last one pass a quarter of it. A daphne holding 7,500 idle sockets
tracks about 1.3 million objects (some 175 per socket, alive as long as the
socket). The heartbeat's objects passed the quarter every 20 s, and each full
collection stopped the event loop for 1.0-1.5 s: every frame, push and
request of the process waited (docs/benchmarks.md, "A hundred thousand
sockets").

So the collector walks only what is young:

- the heap of startup (Django, the URL conf, the modules) is frozen once:
  ``gc.freeze`` moves every tracked object to a generation the collector
  never walks;
- after each heartbeat, what survived since the last beat (a collection of the
  young objects alone: milliseconds) is frozen too;
- a frozen object that later becomes garbage inside a reference cycle (a closed
  socket leaves about 66 such objects: its consumer, its protocol, their
  tasks) is found only by a full collection. One runs once the sockets closed
  since the last reach a quarter of those open, or ``full_every`` seconds
  after the last: the pause CPython took every 20 s, now taken in proportion
  to the churn, and the frozen garbage bounded by it.

Objects freed by their reference count (most garbage) leave the frozen
generation at once; freezing changes only what the collector walks.
"""

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# A full collection waits for at least this many closed sockets, however few are open.
MIN_CLOSED = 100


def freeze_startup() -> None:
    """Freeze what the process holds once it is ready to serve (after a collection of its garbage)."""
    gc.collect()
    gc.freeze()


@dataclass
class FrozenHeap:
    """One per daphne process; the process heartbeat calls ``after_beat``."""

    full_every: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    closed: int = 0  # sockets closed since the last full collection
    last_full: float = 0.0

    def __post_init__(self) -> None:
        self.last_full = self.clock()

    def socket_closed(self) -> None:
        self.closed += 1

    def full_due(self, open_sockets: int) -> bool:
        if self.closed >= max(MIN_CLOSED, open_sockets // 4):
            return True
        return self.clock() - self.last_full >= self.full_every

    def after_beat(self, open_sockets: int) -> None:
        """Collect and freeze the young objects; walk the whole heap only when a full collection is due."""
        if self.full_due(open_sockets):
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            gc.freeze()
            logger.info(
                "full collection: %d unreachable object(s) after %d closed socket(s), %.0f ms",
                found,
                self.closed,
                (time.perf_counter() - started) * 1000,
            )
            self.closed = 0
            self.last_full = self.clock()
            return
        gc.collect()  # walks only what is not frozen: the objects since the last beat
        gc.freeze()
