"""Celery beat on every node, firing on one: a lease in Redis.

Each node's ``delayed`` worker runs beat (``--beat``), so the schedule (the
sweeper, every CHAT_SWEEP_INTERVAL_SECONDS) survives the loss of any node. Only
the holder of the lease fires it: ``SET NX PX`` with a random token takes it,
the holder renews it (a script that extends it only while it still holds the
token) at least every third of CHAT_BEAT_LEASE_SECONDS, and gives it up when it
stops. A node that stops without giving it up (killed, partitioned) loses it
when it lapses, and the next beat to ask takes it over. Sweeps are idempotent,
so the short overlap a paused holder could cause is harmless.
"""

import logging
import secrets
import time

from celery.beat import PersistentScheduler
from django.conf import settings

from chat_project.common.redis_client import get_redis, key

logger = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key() -> str:
    return key("{beat}", "lease")


class BeatLease:
    """One holder at a time, cluster-wide (one key: one slot on a Redis Cluster)."""

    def __init__(self, seconds: float) -> None:
        self.milliseconds = max(1, int(seconds * 1000))
        self.token = secrets.token_hex(16)
        self.held = False

    def hold(self) -> bool:
        """Take or renew the lease; whether this beat holds it now."""
        client = get_redis()
        try:
            if self.held and client.eval(_RENEW, 1, lease_key(), self.token, self.milliseconds):
                return True
            held = bool(client.set(lease_key(), self.token, nx=True, px=self.milliseconds))
        except Exception as exc:
            # Without Redis nobody can know who holds it: fire nothing.
            logger.warning("beat lease: Redis did not answer (%s); not firing", exc)
            held = False
        if held != self.held:
            logger.info("beat lease %s", "taken: this node fires the schedule" if held else "lost")
        self.held = held
        return held

    def release(self) -> None:
        if self.held:
            try:
                get_redis().eval(_RELEASE, 1, lease_key(), self.token)
            except Exception as exc:
                logger.warning("beat lease could not be released (%s); it lapses", exc)
            self.held = False


class LeasedScheduler(PersistentScheduler):
    """Celery's default scheduler, ticking only while this beat holds the lease."""

    def __init__(self, *args, **kwargs) -> None:
        self.lease = BeatLease(settings.CHAT_BEAT_LEASE_SECONDS)
        self._renew_every = settings.CHAT_BEAT_LEASE_SECONDS / 3
        self._check_at = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        now = time.monotonic()
        if now >= self._check_at:
            self.lease.hold()
            self._check_at = now + self._renew_every
        wait = max(0.0, self._check_at - now)
        if not self.lease.held:
            return wait
        return min(super().tick(*args, **kwargs), wait)

    def close(self) -> None:
        self.lease.release()
        super().close()
