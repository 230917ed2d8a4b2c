"""Let daphne send the close codes 1012 (a drained host, a stopping server) and 1013 (too many sockets opening).

RFC 6455 lets a server close with 1012 (IANA's registry: "Service Restart"),
the code clients read as "reconnect, the service restarts", and 1013 ("Try
Again Later"). daphne closes a socket through autobahn's ``sendClose``, which
lets an application send only 1000 and 3000-4999 and raises on anything else,
so the close never reaches the client. For these two alone this sends the
same close frame ``sendClose`` would have sent (``sendCloseFrame``, not as a
reply), without the check.

A stopping daphne (SIGTERM: supervisord stopping or restarting it, `make
run`'s Ctrl-C) cancelled its consumers and dropped the connections: clients
saw 1006, the code of a network failure, and backed off as after one
(docs/websocket.md), and the sockets' presence stayed until its time to live.
``close_sockets_on_shutdown`` stops listening, runs its ``before_close`` (the
sockets' presence unregistered all at once: messaging/heartbeat.py), sends
every open socket 1012 and gives the closing handshakes up to
CHAT_SHUTDOWN_CLOSE_MS, during which each consumer runs its disconnect as
for any close; then daphne cancels what is left, as before.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from .common.limits import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER

logger = logging.getLogger(__name__)

# How often a stopping daphne looks whether its sockets have closed.
_SHUTDOWN_POLL_SECONDS = 0.05

# The codes of RFC 6455's registry this server closes with, which autobahn would refuse.
REGISTERED_CODES = frozenset({CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER})


def allow_registered_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server: its own rules
        return
    original = getattr(WebSocketProtocol, "_chat_original_server_close", WebSocketProtocol.serverClose)

    def serverClose(self, code=None) -> None:  # noqa: N802 - daphne's name
        if code in REGISTERED_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    WebSocketProtocol._chat_original_server_close = original
    WebSocketProtocol.serverClose = serverClose


def close_sockets_on_shutdown(before_close: Callable[[], Awaitable[None]]) -> None:
    """``before_close`` runs on daphne's event loop once the process stops listening, before the 1012s;
    its time counts against CHAT_SHUTDOWN_CLOSE_MS, and its failure is logged, never holds the stop."""
    try:
        from autobahn.websocket.protocol import WebSocketProtocol as Autobahn
        from daphne.server import Server
        from twisted.internet import defer, task
    except ImportError:  # another ASGI server: its own shutdown
        return
    original = getattr(Server, "_chat_original_kill_all_applications", Server.kill_all_applications)

    def kill_all_applications(self):
        _stop_listening()
        open_sockets = [p for p in self.connections if getattr(p, "state", None) == Autobahn.STATE_OPEN]
        if not open_sockets:
            return original(self)
        grace = settings.CHAT_SHUTDOWN_CLOSE_MS / 1000
        deadline = time.monotonic() + grace
        # At most half of the grace: the other half is the closing handshakes'.
        ready = defer.Deferred.fromFuture(asyncio.ensure_future(_bounded(before_close, grace / 2)))
        ready.addCallback(lambda _: close_and_wait(self, open_sockets, deadline))
        return ready

    def close_and_wait(self, open_sockets, deadline):
        from twisted.internet import reactor

        # Those whose clients left meanwhile are closed already.
        open_sockets = [p for p in open_sockets if getattr(p, "state", None) == Autobahn.STATE_OPEN]
        for protocol in open_sockets:
            protocol.serverClose(CLOSE_SERVICE_RESTART)

        def settled(protocol) -> bool:
            # Its closing handshake done (daphne marks it disconnected) and its consumer finished the disconnect.
            details = self.connections.get(protocol)
            if details is None:
                return True
            application = details.get("application_instance")
            return "disconnected" in details and (application is None or application.done())

        def closed_or_late() -> bool:
            return time.monotonic() > deadline or all(settled(p) for p in open_sockets)

        waited: defer.Deferred[None] = defer.Deferred()

        def check() -> None:
            if closed_or_late():
                loop.stop()
                waited.callback(None)

        loop = task.LoopingCall(check)
        loop.clock = reactor
        loop.start(_SHUTDOWN_POLL_SECONDS, now=False)
        waited.addCallback(lambda _: original(self))
        return waited

    Server._chat_original_kill_all_applications = original
    Server.kill_all_applications = kill_all_applications


async def _bounded(step: Callable[[], Awaitable[None]], seconds: float) -> None:
    try:
        await asyncio.wait_for(step(), timeout=seconds)
    except Exception:  # a timeout included: the sockets are closed all the same
        logger.warning("the stop's step before closing the sockets failed", exc_info=True)


def _stop_listening() -> None:
    """Close the listening socket first: during the grace a new connection is not accepted only to be
    dropped at exit. The kernel hands the connections still in its accept queue to the other processes
    listening on the port (``tcp_migrate_req``, scripts/bootstrap.sh); with none, a client is refused at once."""
    from twisted.internet import reactor, tcp

    readers: Any = reactor
    for reader in list(readers.getReaders()):
        if isinstance(reader, tcp.Port):
            reader.stopListening()
