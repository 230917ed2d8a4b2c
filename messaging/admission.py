"""Refusing sends early when the fan-out cannot keep up (overload without collapse).

Every accepted message is pushed by the realtime workers. When sends arrive
faster than the workers fan them out, the realtime queue grows without
bound and every message reaches its recipient later than the one before:
under three times the machine's capacity the first version answered seconds
late and left half the sends unanswered (docs/benchmarks.md, "Overload").
So a send is refused, cheaply and at once, with ``unavailable`` and a
``retry_after`` while the fan-out is behind, and the client sends it again
later with the same client_msg_id (stored at most once). What is admitted
is acked and pushed within the bounds below.

Three signals, none of them read on a send's path:

- how long a socket's frame waited in daphne's queue before the consumer
  read it, less the time the consumer spent on the socket's own earlier
  events (its connect, a slow ``read``): more than CHAT_FRAME_WAIT_MAX_MS
  and the send is refused.
  daphne queues every frame it reads, without a bound, and the consumer
  takes them one per turn of the event loop; a process whose CPU is
  saturated reads faster than it turns, and the frames wait there, in a
  queue no other bound sees (the bench's overload trial, with every other
  queue short: acks 10-60 s late). A refusal costs the loop a fraction of
  an accept, so refusing is what lets it catch up. The wait is stamped on
  each message as daphne queues it (``stamp_arrivals``).

The other two are read by one thread per process every
CHAT_ADMISSION_POLL_MS from Redis:

- the fan-out's lag: a realtime worker starting a batch whose oldest
  message was accepted more than CHAT_FAN_OUT_LAG_MAX_MS ago writes that
  lag to a key that lives CHAT_FAN_OUT_LAG_MAX_MS / 2 (refreshed while it
  stays behind). Short on purpose: admission reopens while the backlog still
  holds work, so the workers never idle between the two (goodput).
  Batches re-driven by the sweeper or retried are old by nature and say
  nothing about the queue; they are not reported.
- the realtime queue's depth, on either broker (chat_project/common/queue_depth.py:
  Redis' lists, RabbitMQ's passive declare): more than
  CHAT_FAN_OUT_QUEUE_MAX tasks waiting means the workers are stopped or
  stuck, which the lag (written by a running worker) cannot tell.

The other bounds of the send path: the committer's queue (messaging/committer.py)
and the in-flight sends of one socket (messaging/consumers.py).
"""

import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from redis.exceptions import RedisError

from chat_project.common.errors import Unavailable
from chat_project.common.queue_depth import QueueDepth
from chat_project.common.redis_client import get_redis, key
from chat_project.common.slim_queue import SlimQueue

from .ids import id_time_seconds

logger = logging.getLogger(__name__)

# Seconds a refused sender is told to wait: about how long a backlog of
# CHAT_FAN_OUT_LAG_MAX_MS takes to drain.
OVERLOAD_RETRY_AFTER = 1
# The log says "refusing sends" at most this often.
WARN_EVERY_SECONDS = 30
# Seconds the poll may take to read the realtime queue's depth (each broker of a failover list: connect,
# handshake, answer). The polls stop meanwhile.
DEPTH_READ_TIMEOUT = 1.0
# A "behind" older than this many polls (at least a second) no longer refuses: a poll stuck longer than
# its timeouts (or a poll thread that died) fails open, as an unreadable signal does.
STALE_AFTER_POLLS = 10
# The key of (arrival time, the consumer's busy seconds then) in an ASGI event, set as daphne queues it.
ARRIVED = "chat.arrived"


class Overloaded(Unavailable):
    retry_after = OVERLOAD_RETRY_AFTER
    default_detail = (
        "The server is busy; send the message again in a second, with the same client_msg_id"
        " (it is stored at most once)."
    )


def lag_key() -> str:
    return key("fanout", "lag")


def lag_ttl_ms() -> int:
    return max(100, settings.CHAT_FAN_OUT_LAG_MAX_MS // 2)


class _Reporter:
    """The worker's side: write the lag, at most once per a third of its life, only while behind."""

    def __init__(self) -> None:
        self._last = 0.0

    def report(self, msg_ids: list[int]) -> None:
        limit = settings.CHAT_FAN_OUT_LAG_MAX_MS
        if not limit or not msg_ids:
            return
        lag_ms = (time.time() - id_time_seconds(min(msg_ids))) * 1000
        now = time.monotonic()
        if lag_ms <= limit or (now - self._last) * 1000 < lag_ttl_ms() / 3:
            return
        self._last = now
        try:
            get_redis().set(lag_key(), int(lag_ms), px=lag_ttl_ms())
        except RedisError:
            logger.warning("could not report the fan-out's lag", exc_info=True)


_reporter = _Reporter()


def report_fan_out_lag(msg_ids: list[int]) -> None:
    """Called by the realtime worker as it starts the fan-out of a freshly accepted batch."""
    _reporter.report(msg_ids)


def realtime_queue_depth() -> QueueDepth:
    """A reader of the realtime queue's depth on this process's broker."""
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    return QueueDepth(settings.CELERY_BROKER_URL, "realtime", prefix, timeout=DEPTH_READ_TIMEOUT)


def stale_after_seconds() -> float:
    return max(1.0, STALE_AFTER_POLLS * settings.CHAT_ADMISSION_POLL_MS / 1000)


class Admission:
    """One per process: whether sends are admitted now, kept fresh by a polling thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self.behind = False
        self.polled_at = 0.0  # time.monotonic() of the poll that set ``behind``
        self._warned = -float(WARN_EVERY_SECONDS)
        self._failed_warned = -float(WARN_EVERY_SECONDS)
        self._depth: QueueDepth | None = None

    def check(self) -> None:
        """Raise ``Overloaded`` while the fan-out is behind; a no-op when the bound is off."""
        if not settings.CHAT_FAN_OUT_LAG_MAX_MS:
            return
        if self._pid != os.getpid():
            self._start()
        if self.behind and time.monotonic() - self.polled_at < stale_after_seconds():
            raise Overloaded()

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self.behind = False
                self._depth = None  # a forked child's copy shares its parent's broker connection: its own
                threading.Thread(target=self._run, name="send-admission", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            self.poll()
            time.sleep(settings.CHAT_ADMISSION_POLL_MS / 1000)

    def poll(self) -> None:
        """Read both signals and set ``behind``. Fails open: an unreadable signal counts as not behind
        (without Redis the send path reports its own outage; without the broker its enqueue does)."""
        try:
            lag = get_redis().get(lag_key())
        except RedisError as error:
            lag = None
            self._say_failed("the fan-out's lag", error)
        try:
            if self._depth is None:
                self._depth = realtime_queue_depth()
            depth = self._depth.read()
        except Exception as error:  # redis' or kombu's, whichever the broker: the thread must live on
            depth = 0
            self._say_failed("the realtime queue's depth", error)
        behind_now = lag is not None or depth > settings.CHAT_FAN_OUT_QUEUE_MAX
        now = time.monotonic()
        if behind_now and not self.behind and now - self._warned > WARN_EVERY_SECONDS:
            # Under sustained overload this flips several times a second: say it now and then.
            self._warned = now
            logger.warning("refusing sends: the fan-out is behind (lag %s ms, realtime queue %d task(s))", lag, depth)
        self.behind = behind_now
        self.polled_at = now

    def _say_failed(self, what: str, error: Exception) -> None:
        # Polled ten times a second: an outage is said now and then, not in every poll.
        now = time.monotonic()
        if now - self._failed_warned > WARN_EVERY_SECONDS:
            self._failed_warned = now
            logger.warning("could not read %s; admitting sends meanwhile", what, exc_info=error)


def stamp_arrivals(inbox: SlimQueue | None, busy: Callable[[], float]) -> None:
    """Stamp every event the server queues for this connection with (arrival time, ``busy()`` then): ``ARRIVED``.

    ``busy``: the seconds the consumer has spent in its handlers so far, so
    that the wait its own earlier frames caused (a slow ``read``, the
    connect) is not counted as the server's. ``inbox``: under daphne the
    connection's ``SlimQueue`` (chat_project/daphne_sockets.py), whose
    ``on_put`` sees each event as daphne queues it. Under another server
    (None) events carry no stamp and the frame wait is not bounded.
    """
    if inbox is None or not settings.CHAT_FRAME_WAIT_MAX_MS:
        return

    def stamp(event) -> None:
        if isinstance(event, dict):
            event[ARRIVED] = (time.monotonic(), busy())

    inbox.on_put = stamp


class StandingQueue:
    """CoDel's test (Nichols and Jacobson, "Controlling Queue Delay", 2012), on the frames' wait.

    A frame that waited longer than the target says little alone: a burst
    of frames read at once waits that long and clears. The queue is standing
    when every frame has waited longer than the target for a whole interval.
    Only then are sends refused: a closed loop at capacity, whose waits cross
    the target now and then, was refused a third of its sends by a per-frame
    bound, and delivered 14 % less (docs/benchmarks.md, "Overload").

    Once it stood, the process stays in control, as CoDel stays in its
    dropping state: each send that waited longer than the target is refused,
    each that waited less is taken, until a whole interval passes without a
    frame over the target. Leaving control at the first short wait (as a
    first version did) let the queue stand again for a whole interval before
    the next refusal: under three times capacity, sends were taken in waves
    and acked 0.5 s late at the median.

    One per process: the wait is the event loop's, shared by its sockets.
    Touched only from the loop's thread.
    """

    def __init__(self) -> None:
        self.above_since: float | None = None
        # While in control: when the last frame over the target was seen.
        self.last_above: float | None = None

    def standing(self, wait_ms: float, target_ms: float, interval_ms: float, now: float) -> bool:
        if self.last_above is not None and (now - self.last_above) * 1000 >= interval_ms:
            self.last_above = None  # a whole interval under the target: out of control
        if wait_ms <= target_ms:
            self.above_since = None
            return False
        if self.last_above is not None:
            self.last_above = now
            return True
        if self.above_since is None:
            self.above_since = now
        if (now - self.above_since) * 1000 < interval_ms:
            return False
        self.above_since = None
        self.last_above = now
        return True


frame_waits = StandingQueue()


def check_frame_wait(arrived: tuple[float, float] | None, busy_now: float) -> None:
    """Raise ``Overloaded`` for a send frame while frames stand in daphne's queue (``StandingQueue``).

    A frame's wait counts the time it waited for the event loop, not for its own
    socket's handlers (``busy``)."""
    target = settings.CHAT_FRAME_WAIT_MAX_MS
    if not target or arrived is None:
        return
    at, busy_then = arrived
    now = time.monotonic()
    wait_ms = (now - at - (busy_now - busy_then)) * 1000
    if frame_waits.standing(wait_ms, target, settings.CHAT_FRAME_WAIT_INTERVAL_MS, now):
        raise Overloaded()


admission = Admission()
