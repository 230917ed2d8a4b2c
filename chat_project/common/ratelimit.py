"""Fixed-window rate limits in Redis, shared by every process.

One counter per (scope, identity, window); CHAT_RATE_LIMITS=off turns every
limit off at once.
"""

import time

from django.conf import settings

from chat_project.common.errors import RateLimited
from chat_project.common.redis_client import get_redis, key


def check_rate(scope: str, identity: str, rate: tuple[int, int]) -> None:
    """Count one event; raise RateLimited once ``rate`` = (count, seconds) is exceeded."""
    if not settings.CHAT_RATE_LIMITS:
        return
    limit, period = rate
    count, retry_after = count_events(scope, {identity: 1}, period)[identity]
    if count > limit:
        raise RateLimited(retry_after=retry_after)


def check_frame_rate(user_id: int) -> None:
    """Count one WebSocket frame other than send (typing, read, watch, ping, a malformed one).

    Per user, every socket together (a second tab buys no extra budget);
    sends have their own limit in the send service.
    """
    check_rate("frames", f"u{user_id}", settings.CHAT_FRAME_RATE)


def count_events(scope: str, counts: dict[str, int], period: int) -> dict[str, tuple[int, int]]:
    """Count ``n`` events per identity in the current window, all in one round trip.

    Returns {identity: (the window's count after these events, seconds until it ends)};
    the caller decides which of the events went over its limit (the send batch).
    """
    now = time.time()
    window = int(now // period)
    pipe = get_redis().pipeline(transaction=False)
    for identity, n in counts.items():
        # The identity is the hash tag: a user's limits live in that user's slot.
        name = key("{rl:%s}" % identity, scope, window)
        pipe.incrby(name, n)
        pipe.expire(name, period + 1)
    replies = pipe.execute()
    retry_after = int((window + 1) * period - now) + 1
    return {identity: (replies[2 * i], retry_after) for i, identity in enumerate(counts)}
