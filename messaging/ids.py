"""53-bit, time-ordered message ids, unique across processes and machines.

Layout (most significant first)::

    40 bits  milliseconds since ID_EPOCH (good until 2060)
     6 bits  worker id (0..63), unique per running process
     7 bits  sequence within one millisecond (128 ids per ms per process)

53 bits because Redis sorted-set scores and JavaScript numbers are IEEE
doubles: every id below 2**53 survives both exactly.

The worker id is leased from Redis (``SET NX`` with a time-to-live, renewed
while the process hands out ids) unless CHAT_ID_WORKER fixes it. A process
whose lease cannot be renewed stops handing out ids rather than risk a
duplicate, and a forked child leases its own.
"""

import os
import random
import secrets
import threading
import time

from django.conf import settings

from chat_project.common.redis_client import get_redis, key

ID_EPOCH_MS = 1767225600000  # 2026-01-01T00:00:00Z
TIME_BITS = 40
WORKER_BITS = 6
SEQUENCE_BITS = 7
MAX_WORKERS = 1 << WORKER_BITS
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIME_SHIFT = WORKER_BITS + SEQUENCE_BITS
MAX_ID = (1 << (TIME_BITS + TIME_SHIFT)) - 1

LEASE_SECONDS = 120
# Renewing often keeps the window short in which a lease lost with Redis (a
# flush, a restart without persistence) could be taken by another process;
# the database's unique msgId is the last guard (messaging.accept retries).
RENEW_AFTER_SECONDS = 5
# A clock that steps back by less than this is ridden out (ids continue in the
# last millisecond); more is an error.
MAX_BACKWARD_WAIT_MS = 2000

_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class IdGeneratorError(RuntimeError):
    """No id can be handed out safely (no worker id, clock far behind)."""


def id_floor_for_time(epoch_seconds: float) -> int:
    """The smallest id any process could hand out at this time."""
    ms = int(epoch_seconds * 1000) - ID_EPOCH_MS
    return max(0, ms) << TIME_SHIFT


def id_time_seconds(msg_id: int) -> float:
    return ((msg_id >> TIME_SHIFT) + ID_EPOCH_MS) / 1000


class IdGenerator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._worker: int | None = None
        self._token = ""
        self._renewed_at = 0.0
        self._last_ms = -1
        self._sequence = 0

    def next_id(self, above: int = 0) -> int:
        """A new id, larger than ``above`` (the send path passes the users' last ids).

        Never smaller than the last id of this process: a clock that steps back
        (or an ``above`` from another process a millisecond ahead) makes this
        process continue in its last millisecond, or the one after ``above``,
        running that little ahead of the clock. Unique either way, because the
        worker bits are this process's own and it never repeats an (ms, sequence)
        pair.
        """
        with self._lock:
            self._ensure_worker()
            worker = self._worker
            if worker is None:  # _ensure_worker leases one or raises
                raise IdGeneratorError("no message-id worker leased")
            clock = self._now_ms()
            if self._last_ms - clock > MAX_BACKWARD_WAIT_MS:
                raise IdGeneratorError(f"clock moved back by {self._last_ms - clock} ms")
            ms = max(clock, self._last_ms)
            floor_ms = (above >> TIME_SHIFT) + ID_EPOCH_MS
            if floor_ms >= ms:
                ms = floor_ms + 1
            if ms == self._last_ms:
                self._sequence += 1
                if self._sequence > MAX_SEQUENCE:
                    ms += 1
                    self._sequence = 0
            else:
                self._sequence = 0
            self._last_ms = ms
            elapsed = ms - ID_EPOCH_MS
            if elapsed >= 1 << TIME_BITS:
                raise IdGeneratorError("the id epoch has run out")
            return (elapsed << TIME_SHIFT) | (worker << SEQUENCE_BITS) | self._sequence

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    def _ensure_worker(self) -> None:
        pid = os.getpid()
        if settings.CHAT_ID_WORKER >= 0:
            if not settings.CHAT_ID_WORKER < MAX_WORKERS:
                raise IdGeneratorError(f"CHAT_ID_WORKER must be below {MAX_WORKERS}")
            self._worker, self._pid = settings.CHAT_ID_WORKER, pid
            return
        if self._pid != pid or self._worker is None:
            self._lease(pid)
        elif time.monotonic() - self._renewed_at > RENEW_AFTER_SECONDS:
            self._renew()

    def _lease(self, pid: int) -> None:
        client = get_redis()
        token = secrets.token_hex(16)
        start = random.randrange(MAX_WORKERS)  # noqa: S311 - spreads the processes' first tries, no secret
        for offset in range(MAX_WORKERS):
            candidate = (start + offset) % MAX_WORKERS
            if client.set(key("idworker", candidate), token, nx=True, ex=LEASE_SECONDS):
                self._worker, self._token, self._pid = candidate, token, pid
                self._renewed_at = time.monotonic()
                # Start in the next millisecond: this process never repeats an
                # (ms, sequence) pair, whichever worker id it held before.
                self._last_ms = max(self._last_ms, self._now_ms())
                self._sequence = MAX_SEQUENCE
                return
        raise IdGeneratorError(f"all {MAX_WORKERS} message-id workers are leased")

    def _renew(self) -> None:
        renewed = get_redis().eval(_RENEW_SCRIPT, 1, key("idworker", self._worker), self._token, LEASE_SECONDS)
        if not renewed:
            # Our lease lapsed and may belong to another process now.
            self._worker = None
            self._lease(os.getpid())
            return
        self._renewed_at = time.monotonic()

    def renew_worker(self) -> None:
        """Give up this process's worker id and lease another one."""
        with self._lock:
            if settings.CHAT_ID_WORKER < 0:
                self._worker = None


_generator = IdGenerator()


def renew_worker() -> None:
    _generator.renew_worker()


def next_message_id(above: int = 0) -> int:
    return _generator.next_id(above)
