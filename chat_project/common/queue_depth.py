"""How many tasks wait in a Celery queue, on either broker this project runs on.

The send path's admission refuses sends while the realtime queue holds more
than ``CHAT_FAN_OUT_QUEUE_MAX`` tasks (its workers are stopped or stuck:
messaging/admission.py), and ``make bench`` samples the same depth. Both
read it here:

- Redis (the single machine): kombu keeps a queue as one list per priority
  step, the queue's name for step 0 and ``<name>\\x06\\x16<step>`` for the
  others (kombu's default steps 0, 3, 6, 9), under the broker's
  ``global_keyprefix``; the depth is the sum of their lengths, one round trip.
- RabbitMQ (the cluster): a passive ``queue.declare`` answers the queue's
  ready messages (``message_count``), quorum queues included, from any node
  of the cluster. A queue not declared yet holds nothing: the broker answers
  404 and closes the channel, which is opened again on the next read.

Neither counts tasks a worker holds unacknowledged: those are being worked on.
A ``QueueDepth`` keeps its connection between reads; it is not thread-safe
(one per reading thread). Every step of a read (connecting, the AMQP
handshake, the answer) is bounded by its ``timeout``: a broker that stops
answering mid-connection raises, it does not hold the reader.
"""

import contextlib
from typing import Any

import redis

# kombu's Redis transport: the priority steps of a queue (``PRIORITY_STEPS``) and the separator of their lists.
REDIS_PRIORITY_STEPS = (3, 6, 9)
REDIS_PRIORITY_SEP = "\x06\x16"
# Seconds to connect to the broker or wait for its answer, by default.
TIMEOUT_SECONDS = 5.0


def redis_queue_lists(queue: str, prefix: str = "") -> list[str]:
    """The Redis lists kombu keeps ``queue`` in, under the broker's ``global_keyprefix``."""
    return [prefix + queue] + [f"{prefix}{queue}{REDIS_PRIORITY_SEP}{step}" for step in REDIS_PRIORITY_STEPS]


def is_redis_url(url: str) -> bool:
    return url.split("://", 1)[0] in ("redis", "rediss")


class QueueDepth:
    """Reads the number of tasks waiting in ``queue`` of the broker at ``url`` (a failover list for RabbitMQ)."""

    def __init__(self, url: str, queue: str, prefix: str = "", timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self.queue = queue
        self.timeout = timeout
        self._redis: redis.Redis | None = None
        self._lists: list[str] = []
        self._amqp: Any = None
        if is_redis_url(url):
            self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            self._lists = redis_queue_lists(queue, prefix)

    def read(self) -> int:
        """Tasks waiting now. Raises the broker's error (redis' or kombu's) when it cannot be asked."""
        if self._redis is not None:
            with self._redis.pipeline(transaction=False) as pipe:
                for name in self._lists:
                    pipe.llen(name)
                return int(sum(pipe.execute()))
        return self._read_amqp()

    def _read_amqp(self) -> int:
        from amqp.exceptions import NotFound
        from kombu import Connection

        if self._amqp is None:
            # Each broker of the list once, then the error: a reader polls again soon, it must not hang.
            # The read and write timeouts are py-amqp's socket timeouts: without them a broker that stops
            # answering after the handshake (a paused or partitioned node) holds the read forever.
            options = {
                "max_retries": self.url.count(";") + 1,
                "interval_start": 0,
                "interval_step": 0.2,
                "read_timeout": self.timeout,
                "write_timeout": self.timeout,
            }
            self._amqp = Connection(self.url, connect_timeout=self.timeout, transport_options=options)
        try:
            answer = self._amqp.default_channel.queue_declare(queue=self.queue, passive=True)
        except NotFound:
            self._reset()  # the broker closed the channel; nothing was ever published to the queue
            return 0
        except Exception:
            self._reset()  # a broken connection: the next read connects again (to the next broker of the list)
            raise
        return int(answer.message_count)

    def _reset(self) -> None:
        connection, self._amqp = self._amqp, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: the point is to drop it
                connection.release()

    def close(self) -> None:
        self._reset()
        if self._redis is not None:
            self._redis.close()
