"""Kombu's Redis transport, with one Redis client per channel instead of one per command.

Kombu's Redis channel builds a new ``redis.Redis`` for every publish, every
acknowledgement and every delivery it records as unacknowledged
(``Channel.conn_or_acquire``). The connection comes from the channel's pool
either way; what is new each time is the client object, and building one
copies redis-py's table of response callbacks. At chat rates, where each
accepted send is a task of its own, that was 19 % of the realtime worker's
parent process and part of every ``Task.delay`` in daphne (py-spy with
``--gil``, docs/benchmarks.md). This channel builds that client once and
hands the same one out; it shares nothing but the pool, which is thread-safe,
as every client kombu built already did.

Used when the broker is Redis (``CELERY_BROKER_TRANSPORT`` in settings);
RabbitMQ goes through py-amqp and is not concerned.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:
            # The first use, or the pool was replaced (kombu drops it on close).
            shared = self._shared_client = self._create_client()  # type: ignore[attr-defined]
        yield shared


class Transport(redis.Transport):
    Channel = Channel
