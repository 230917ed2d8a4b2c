"""The sockets one daphne process is opening, and a refusal once they stand in a queue.

Opening a socket costs a daphne its authentication (a database read), the
user's blocks (another), the group and presence registrations (Redis), each
in a thread. When a whole population reconnects at once (a restart, a
deploy), a process takes the handshakes faster than it can open them; the
work queues in its threads, the clients give up before their turn, and the
threads go on opening sockets nobody waits for. After a restart of 30,000
sockets on two daphnes, 72,796 socket instances were killed that way and
fewer than a tenth of the clients were back after five minutes
(docs/benchmarks.md, "A hundred thousand sockets").

So once the oldest socket still opening has waited longer than
``CHAT_CONNECT_WAIT_MAX_MS``, or ``CHAT_CONNECT_OPENING_MAX`` sockets are
opening at once, a new one is closed at once with 1013 (Try Again Later,
RFC 6455's registry), before any of that work: its client backs off (both
SDKs do, for every close but 4401 and 1012) and comes back when the process
has caught up. A burst of fewer sockets that the process opens within the
bound is never refused. The count bounds the burst a process lets in when
it accepts again after a pause (chat_project/accept_pause.py): the clients
that waited in the kernel's accept queue arrive all at once. All of it runs on the event loop's thread: no lock.
"""

import time
from collections.abc import Callable


class Opening:
    """One socket between its arrival and its ``ready`` (or its end); ``done`` may be called twice."""

    __slots__ = ("gate", "open")

    def __init__(self, gate: "ConnectGate") -> None:
        self.gate = gate
        self.open = True

    def done(self) -> None:
        if self.open:
            self.open = False
            self.gate.opening.pop(self, None)


class ConnectGate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # Sockets opening -> when each arrived; dicts keep their order, so the first is the oldest.
        self.opening: dict[Opening, float] = {}

    def behind(self, max_wait_ms: int, max_opening: int = 0) -> bool:
        """Whether the oldest socket still opening has waited past ``max_wait_ms`` (never when it is 0), or
        ``max_opening`` sockets are opening (never when it is 0)."""
        if not self.opening:
            return False
        if 0 < max_opening <= len(self.opening):
            return True
        if max_wait_ms <= 0:
            return False
        oldest = next(iter(self.opening.values()))
        return (self.clock() - oldest) * 1000 > max_wait_ms

    def enter(self, max_wait_ms: int, max_opening: int = 0) -> Opening | None:
        """A place for one more socket; None when the process is ``behind``."""
        if self.behind(max_wait_ms, max_opening):
            return None
        opening = Opening(self)
        self.opening[opening] = self.clock()
        return opening


# One per process: daphne runs every socket of the process on one event loop.
connect_gate = ConnectGate()
