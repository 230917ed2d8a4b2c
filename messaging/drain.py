"""Draining a host: its daphnes close their sockets in spread batches with 1012 (service restart).

haproxy stops sending new connections to a drained server, but keeps the
open WebSocket tunnels, and daphne itself only cancels consumers when it
stops. So the application closes them, a batch at a time, so that clients
reconnect (to another host, through haproxy) in a trickle, not a herd.

Each daphne process listens on the channel-layer group of its host
(``drain.<CHAT_NODE_NAME>``) from its first socket on; ``manage.py
drain_sockets`` sends to that group, so it reaches every daphne of this host
and none of another. Each process closes ``batch`` of its sockets every
``interval`` seconds, starting after a random part of the first interval,
and closes sockets that connect meanwhile at once, until told ``cancel``.
"""

import asyncio
import logging
import random
import re
from typing import Protocol

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

DRAIN_EVENT = "chat.drain"
# channels-redis forgets a group member after a day: re-joined this often.
REJOIN_SECONDS = 3600


class Drainable(Protocol):
    async def drain_close(self) -> None: ...


def drain_group(node: str) -> str:
    """The host's group; channels allows ASCII letters, digits, ``-_.`` in group names."""
    return "drain." + re.sub(r"[^A-Za-z0-9._-]", "_", node)[:80]


def drain_event(batch: int, interval: float, cancel: bool = False) -> dict:
    return {"type": DRAIN_EVENT, "batch": max(1, batch), "interval": max(0.0, interval), "cancel": cancel}


class ProcessDrain:
    """One per daphne process (event loop): listens for the host's drain and closes its sockets."""

    def __init__(self) -> None:
        self.sockets: set[Drainable] = set()
        self.draining = False
        self._listener: asyncio.Task | None = None
        self._closer: asyncio.Task | None = None

    def add(self, socket: Drainable) -> None:
        self.sockets.add(socket)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def remove(self, socket: Drainable) -> None:
        self.sockets.discard(socket)

    async def _listen(self) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        group = drain_group(settings.CHAT_NODE_NAME)
        channel = await layer.new_channel()
        while True:
            try:
                await layer.group_add(group, channel)
                event = await asyncio.wait_for(layer.receive(channel), REJOIN_SECONDS)
            except TimeoutError:
                continue
            except Exception:
                logger.warning("drain listener: the channel layer failed; listening again", exc_info=True)
                await asyncio.sleep(1)
                continue
            if event.get("type") == DRAIN_EVENT:
                self.handle(event)

    def handle(self, event: dict) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if event.get("cancel"):
            self.draining = False
            logger.info("drain cancelled: this process accepts sockets again")
            return
        self.draining = True
        batch, interval = int(event["batch"]), float(event["interval"])
        logger.info("draining %d socket(s): %d every %.1f s", len(self.sockets), batch, interval)
        self._closer = asyncio.get_running_loop().create_task(self._close_in_batches(batch, interval))

    async def _close_in_batches(self, batch: int, interval: float) -> None:
        # Processes of one host start at different moments within the first interval.
        await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spreading, no secret
        while self.sockets:
            chosen = list(self.sockets)[:batch]
            for socket in chosen:
                self.sockets.discard(socket)
            results = await asyncio.gather(*(s.drain_close() for s in chosen), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    logger.warning("closing a drained socket failed: %s", result)
            if self.sockets:
                await asyncio.sleep(interval)


_drains: dict[int, ProcessDrain] = {}


def process_drain() -> ProcessDrain:
    """The drain of the running event loop (one per daphne process)."""
    loop = asyncio.get_running_loop()
    drain = _drains.get(id(loop))
    if drain is None:
        drain = _drains[id(loop)] = ProcessDrain()
    return drain
