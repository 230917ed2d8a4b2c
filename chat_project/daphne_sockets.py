"""Less of what daphne keeps for each open WebSocket (about 4 KB of ~35 KB; docs/benchmarks.md).

Measured with scripts/bench/heap.py (tracemalloc), two things daphne keeps
for a socket's whole life serve it no purpose once it is open:

- **The HTTP request that asked for the upgrade.** Daphne hands the TCP
  transport over to the WebSocket protocol, but the transport still names
  the request's HTTP channel as its producer, and the channel holds the
  request: its headers, its body buffer, both objects' state. That producer
  does nothing for an upgraded socket (Twisted's channel pauses its
  transport only between requests, and the upgrade request never ends), so
  it is unregistered right after the upgrade and the two are freed.
- **The socket's inbox**, an ``asyncio.Queue`` (four deques and an
  ``Event``, about 1.5 KB, nearly always empty): a ``SlimQueue``
  (common/slim_queue.py) instead, which holds nothing while empty. Only the
  socket's application reads it, one frame at a time.

daphne is pinned in requirements.txt: this relies on ``WebRequest.process``
upgrading in place and on ``Server.create_application``'s contract (the
inbox it returns, the application future it stores in ``connections``).
"""

import asyncio
from functools import partial

from .common.slim_queue import SlimQueue


def slim_daphne_sockets() -> None:
    try:
        from daphne.http_protocol import WebRequest
        from daphne.server import Server
    except ImportError:  # another ASGI server: its own costs
        return
    original_process = getattr(WebRequest, "_chat_sockets_original_process", WebRequest.process)
    original_create = getattr(Server, "_chat_sockets_original_create", Server.create_application)

    def process(self):
        transport = self.transport
        result = original_process(self)
        if transport is not None and self.transport is None:  # upgraded: the transport is the socket's now
            release_upgrade_request(transport, self.channel)
        return result

    def create_application(self, protocol, scope):
        if scope.get("type") != "websocket":
            return original_create(self, protocol, scope)
        return start_socket_application(self, protocol, scope)

    WebRequest._chat_sockets_original_process = original_process
    WebRequest.process = process
    Server._chat_sockets_original_create = original_create
    Server.create_application = create_application


def release_upgrade_request(transport, channel) -> None:
    """The transport no longer keeps the HTTP channel (and its request) alive as its producer."""
    if getattr(transport, "producer", None) is channel:
        transport.unregisterProducer()


def start_socket_application(server, protocol, scope) -> SlimQueue | None:
    """Daphne's create_application for a socket, with a SlimQueue as the application's inbox.

    None if the connection closed before its application could start (daphne
    then starts none either).
    """
    details = server.connections.get(protocol)
    if details is None:
        return None
    if "application_instance" in details:
        raise RuntimeError("a second application for one connection")
    inbox = SlimQueue()
    scope.setdefault("asgi", {"version": "3.0"})
    application = server.application(scope=scope, receive=inbox.get, send=partial(server.handle_reply, protocol))
    details["application_instance"] = asyncio.ensure_future(application)
    return inbox
