"""Fixed-window rate limits in Redis, shared by every process.

One counter per (scope, identity, window); CHAT_RATE_LIMITS=off turns every
limit off at once.
"""

import time

from django.conf import settings

from chat_project.errors import RateLimited
from chat_project.redis_client import get_redis, key


def check_rate(scope: str, identity: str, rate: tuple[int, int]) -> None:
    """Count one event; raise RateLimited once ``rate`` = (count, seconds) is exceeded."""
    if not settings.CHAT_RATE_LIMITS:
        return
    limit, period = rate
    now = time.time()
    window = int(now // period)
    # The identity is the hash tag: a user's limits live in that user's slot.
    name = key("{rl:%s}" % identity, scope, window)
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(name)
    pipe.expire(name, period + 1)
    count, _ = pipe.execute()
    if count > limit:
        raise RateLimited(retry_after=int((window + 1) * period - now) + 1)
