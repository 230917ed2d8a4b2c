"""A daphne process behind with the sockets it is opening stops accepting connections for a while.

The connect gate (common/connect_gate.py) refuses a new socket with 1013
once the oldest socket the process is still opening has waited past
``CHAT_CONNECT_WAIT_MAX_MS``, or too many are opening. But each refusal
costs a whole WebSocket handshake on the event loop: in the bench's restart
of 10,000 sockets the returning clients' attempts kept each daphne's loop so
busy refusing (about 450 a second) that a turn of it took two to four
seconds, and the 520 sockets it had let in opened none in twenty seconds,
each step of their opening waiting a turn (docs/benchmarks.md, "The
reconnect storm's queue").

So on a refusal the process also stops reading its listening sockets:
connections wait in the kernel's accept queue, which costs it nothing,
while the loop finishes the sockets it let in. Every 50 ms it checks the
gate and accepts again as soon as the gate would let a socket in, or after
``CHAT_CONNECT_PAUSE_MAX_MS`` at the latest, whatever holds the sockets
opening; the next refusal pauses it again. A request (a REST call, a load
balancer's health check) arriving meanwhile waits its turn in the queue, as
it waited behind the refusals' handshakes in the loop before. 0 turns this
off.
"""

from typing import Any

from django.conf import settings

from .common.connect_gate import ConnectGate, connect_gate

CHECK_SECONDS = 0.05
# Connections a listening port accepts in one turn of the loop once it reads again (Twisted's first value).
ACCEPTS_PER_TURN = 100


class AcceptPause:
    def __init__(self, gate: ConnectGate) -> None:
        self.gate = gate
        self.pausing = False
        self.paused: list[Any] = []  # the listening ports it stopped reading
        self.since = 0.0

    def refused(self) -> None:
        """The gate refused a socket: stop accepting, unless already paused or turned off."""
        max_ms = settings.CHAT_CONNECT_PAUSE_MAX_MS
        if self.pausing or max_ms <= 0:
            return
        try:
            from twisted.internet import reactor, tcp
        except ImportError:  # another ASGI server
            return
        readers: Any = reactor
        self.pausing = True
        self.paused = [r for r in readers.getReaders() if isinstance(r, tcp.Port)]
        for port in self.paused:
            port.stopReading()
        self.since = self.gate.clock()
        readers.callLater(CHECK_SECONDS, self._check)

    def _check(self) -> None:
        from twisted.internet import reactor

        clock: Any = reactor
        waited_ms = (self.gate.clock() - self.since) * 1000
        behind = self.gate.behind(settings.CHAT_CONNECT_WAIT_MAX_MS, settings.CHAT_CONNECT_OPENING_MAX)
        if behind and waited_ms < settings.CHAT_CONNECT_PAUSE_MAX_MS:
            clock.callLater(CHECK_SECONDS, self._check)
            return
        ports, self.paused, self.pausing = self.paused, [], False
        for port in ports:
            if port.connected:  # not closed meanwhile (a stopping process stops listening)
                # Twisted accepts as many connections a turn as were waiting the last time: after a
                # pause, the whole accept queue in one turn of the loop. Back to its first pace.
                port.numberAccepts = min(port.numberAccepts, ACCEPTS_PER_TURN)
                port.startReading()


accept_pause = AcceptPause(connect_gate)
