"""The committer: one thread per process that accepts queued sends in batches.

Every send of a process (sockets and REST alike) is queued here. While the
thread commits a batch (messaging/accept.py), new sends queue; the next
batch takes them all. An idle committer takes a lone send at once (plus
CHAT_SEND_BATCH_WAIT_MS), so batching costs no latency when there is no load
and saves round trips and fsyncs when there is. A caller waits on a future:
a socket's coroutine without holding a thread, a REST request in its own.

The fan-out of what a batch stored is enqueued by a second thread, the
enqueuer, never by the committer: a broker that stalls (a RabbitMQ node
failing over, a Redis broker restarting) then delays pushes, not acks, and
the committer goes on storing sends. The enqueuer's queue is bounded
(CHAT_FAN_OUT_ENQUEUE_MAX message ids); what does not fit, or cannot be
enqueued, is durable with ``fan_out_done`` false and the sweeper re-drives
it. Ids that piled up while the broker stalled go in one task per
CHAT_SEND_BATCH_MAX.

The committer's own queue is bounded too, by length (CHAT_ACCEPT_QUEUE_MAX
sends) and by the time its oldest send has waited (CHAT_ACCEPT_QUEUE_MAX_MS):
a send that would queue behind either is refused at once with
``unavailable`` (messaging/admission.py's ``Overloaded``) instead of waiting
for a batch that cannot come in time. The wait at the head is the queue's
real cost, whatever the cause: a database that stalls, or more sends than
it commits.
"""

import logging
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError

from django.conf import settings
from django.db import connection

from chat_project.common.errors import Unavailable

from . import accept
from .accept import SendRequest, SendResult
from .admission import Overloaded
from .tasks import fan_out_batch

logger = logging.getLogger(__name__)

# The committer checks its database connection before a batch after this long idle.
IDLE_CHECK_SECONDS = 30


class _Pending:
    __slots__ = ("deadline", "future", "queued_at", "request")

    def __init__(self, request: SendRequest, queued_at: float) -> None:
        self.request = request
        self.future: Future = Future()
        self.queued_at = queued_at
        self.deadline = queued_at + settings.CHAT_ACCEPT_DEADLINE_SECONDS


class Enqueuer:
    """One thread per process that enqueues the fan-out of stored messages, off the committer's path."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0
        self._held = 0  # message ids queued and not yet taken (bounded)

    def put(self, msg_ids: list[int]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._queue, self._held = queue.SimpleQueue(), 0
                threading.Thread(target=self._run, name="fan-out-enqueuer", daemon=True).start()
                self._pid = os.getpid()
            if self._held + len(msg_ids) > settings.CHAT_FAN_OUT_ENQUEUE_MAX:
                # Stored all the same: the sweeper finds them by fan_out_done.
                logger.warning("fan-out queue full: %d message(s) left to the sweeper", len(msg_ids))
                return
            self._held += len(msg_ids)
        self._queue.put(msg_ids)

    def _run(self) -> None:
        limit = settings.CHAT_SEND_BATCH_MAX
        while True:
            msg_ids = self._queue.get()
            while len(msg_ids) < limit:
                try:
                    msg_ids = msg_ids + self._queue.get_nowait()
                except queue.Empty:
                    break
            with self._lock:
                self._held -= len(msg_ids)
            for start in range(0, len(msg_ids), limit):
                _enqueue_fan_out(msg_ids[start : start + limit])


class Committer:
    """One thread per process that accepts queued sends in batches."""

    def __init__(self) -> None:
        self._pending: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._pid = 0
        self._last_batch = 0.0

    def submit(self, request: SendRequest) -> Future:
        """Queue a send for the next batch; ``Overloaded`` if the queue is over its bounds."""
        self._ensure_thread()
        now = time.monotonic()
        with self._ready:
            pending = self._pending
            if pending and (
                len(pending) >= settings.CHAT_ACCEPT_QUEUE_MAX
                or (now - pending[0].queued_at) * 1000 > settings.CHAT_ACCEPT_QUEUE_MAX_MS
            ):
                raise Overloaded()
            queued = _Pending(request, now)
            pending.append(queued)
            self._ready.notify()
        return queued.future

    def _ensure_thread(self) -> None:
        with self._ready:
            if self._pid != os.getpid():
                self._pending = deque()
                threading.Thread(target=self._run, name="send-committer", daemon=True).start()
                self._pid = os.getpid()

    def _take(self, limit: int) -> list[_Pending]:
        with self._ready:
            pending = self._pending
            return [pending.popleft() for _ in range(min(limit, len(pending)))]

    def _run(self) -> None:
        wait = settings.CHAT_SEND_BATCH_WAIT_MS / 1000
        limit = settings.CHAT_SEND_BATCH_MAX
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._pending))
            if wait:
                time.sleep(wait)
            batch = self._take(limit)
            try:
                self._accept(batch)
            except Exception:
                # This thread must outlive any batch: without it the process accepts no send again.
                logger.exception("send batch of %d: unexpected failure", len(batch))
                for pending in batch:
                    _settle(pending.future, error=Unavailable("Send it again."))

    def _accept(self, batch: list[_Pending]) -> None:
        now = time.monotonic()
        # A sender that waited past the deadline was told "unavailable": do not store it now.
        late = [p for p in batch if p.deadline < now]
        for pending in late:
            _settle(pending.future, error=Unavailable("The server is overloaded; send the message again."))
        batch = [p for p in batch if p.deadline >= now]
        if not batch:
            return
        try:
            # This thread keeps its connection for good; one idle for a while may
            # have been dropped by the server (wait_timeout), so ask first.
            if (
                now - self._last_batch > IDLE_CHECK_SECONDS
                and connection.connection is not None
                and not connection.is_usable()
            ):
                connection.close()
            self._last_batch = now
            results = accept.accept_batch([p.request for p in batch])
        except Exception:
            logger.exception("send batch of %d failed", len(batch))
            connection.close()  # a dead connection (the database restarted) is never reused: reconnect next batch
            results = [Unavailable("The message could not be stored right now; send it again.")] * len(batch)
        accepted = []
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, SendResult):
                _settle(pending.future, result)
                if result.created:
                    accepted.append(result.message["msg_id"])
            else:
                _settle(pending.future, error=result)
        if accepted:
            enqueuer.put(accepted)


def _settle(future: Future, result: SendResult | None = None, error: Exception | None = None) -> None:
    """Answer a waiting sender, unless it gave up: an async sender whose wait timed out
    cancels the future (asyncio.wrap_future), and setting a cancelled future raises."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _enqueue_fan_out(msg_ids: list[int]) -> None:
    try:
        fan_out_batch.delay(msg_ids, True)
    except Exception:
        # The messages are durable; the sweeper re-drives their fan-out.
        logger.exception("could not enqueue fan-out of %d message(s)", len(msg_ids))


enqueuer = Enqueuer()
committer = Committer()
