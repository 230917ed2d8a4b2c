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
``CHAT_CONNECT_WAIT_MAX_MS``, a new one is closed at once with 1013 (Try
Again Later, RFC 6455's registry), before any of that work: its client backs
off (both SDKs do, for every close but 4401 and 1012) and comes back when
the process has caught up. A burst that the process opens within the bound
is never refused. All of it runs on the event loop's thread: no lock.

A refusal still costs the process a TCP accept, an HTTP parse, a WebSocket
handshake and the garbage of all three, and a population of clients backing
off to at most 20 s arrives far faster than a process opens sockets: at
30,000 sockets on two daphnes the processes spent their time refusing, and
fewer than a fifth were back after five minutes. So, first, a process stops
*accepting* while ``CHAT_CONNECT_OPENING_MAX`` sockets are opening in it:
its listening port leaves the event loop (Twisted's ``stopReading``) until
half of them are open. The connections wait in the kernel's accept queue,
at no cost to anyone, and another daphne sharing the listening socket takes
them meanwhile; once the queue is full the kernel drops the SYNs and the
clients' TCP retries them, a backoff of its own. While the oldest opening
socket has waited past ``CHAT_CONNECT_WAIT_MAX_MS`` the process accepts
again, so that the 1013 above answers at once when opening is stuck (a
locked table, an unreachable Redis) rather than slow.
"""

import time
from collections.abc import Callable
from typing import Protocol


class ListeningPort(Protocol):
    """What the gate needs of a Twisted listening port."""

    connected: bool | int

    def stopReading(self) -> None: ...  # noqa: N802 - Twisted's names

    def startReading(self) -> None: ...  # noqa: N802


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
            self.gate.steer()


class ConnectGate:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self.clock = clock
        # Runs a callable after so many seconds (the event loop's call_later, once a port is known).
        self.later = later
        # Sockets opening -> when each arrived; dicts keep their order, so the first is the oldest.
        self.opening: dict[Opening, float] = {}
        # The listening ports of this process (daphne_sockets.py adds them), and whether they are paused.
        self.ports: list[ListeningPort] = []
        self.paused = False
        self.recheck_pending = False
        # The bounds, set by enter(): a gate built before settings are read pauses nothing.
        self.opening_max = 0
        self.max_wait_ms = 0

    def enter(self, max_wait_ms: int, opening_max: int = 0) -> Opening | None:
        """A place for one more socket; None when the oldest opening one has waited past ``max_wait_ms``.

        With ``opening_max`` sockets opening, the listening ports stop accepting (see the module).
        """
        self.max_wait_ms, self.opening_max = max_wait_ms, opening_max
        now = self.clock()
        if self._oldest_waited_ms(now) > max_wait_ms > 0:
            return None
        opening = Opening(self)
        self.opening[opening] = now
        self.steer()
        return opening

    def add_port(self, port: ListeningPort) -> None:
        self.ports.append(port)

    def _oldest_waited_ms(self, now: float) -> float:
        if not self.opening:
            return 0.0
        return (now - next(iter(self.opening.values()))) * 1000

    def steer(self) -> None:
        """Pause or resume accepting: paused from ``opening_max`` sockets opening down to half of them."""
        if not self.ports or self.opening_max <= 0:
            return
        count = len(self.opening)
        stuck = self.max_wait_ms > 0 and self._oldest_waited_ms(self.clock()) > self.max_wait_ms
        if self.paused:
            if stuck or count <= self.opening_max // 2:
                self._set_paused(False)
        elif count >= self.opening_max and not stuck:
            self._set_paused(True)
            self._recheck_when_stuck()

    def _recheck_when_stuck(self) -> None:
        """While paused, look again once the oldest opening socket would pass the wait bound."""
        if self.later is None or self.max_wait_ms <= 0 or self.recheck_pending or not self.opening:
            return
        due = self.max_wait_ms / 1000 - self._oldest_waited_ms(self.clock()) / 1000
        self.recheck_pending = True
        self.later(max(due, 0.0) + 0.01, self._recheck)

    def _recheck(self) -> None:
        self.recheck_pending = False
        self.steer()
        if self.paused:
            self._recheck_when_stuck()

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        for port in self.ports:
            if not port.connected:  # stopped listening (the process is shutting down): leave it
                continue
            if paused:
                port.stopReading()
            else:
                port.startReading()


# One per process: daphne runs every socket of the process on one event loop.
connect_gate = ConnectGate()
