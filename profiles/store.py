"""Redis keys of the profiles app: the profile cache and online presence.

Profile cache: ``{p:<id>}:profile`` hash (username, nickname, avatar_url),
filled on a miss and deleted when the profile changes.

Presence: ``{u:<id>}:sockets`` sorted set, member = a socket's channel name,
score = the time its registration expires. A socket's heartbeat pushes its
score forward; a process that dies without closing its sockets leaves scores
that simply fall into the past, so the user stops counting as online within
CHAT_ONLINE_TTL_SECONDS. Closing one of two tabs removes one member only.
"""

import time
from collections.abc import Iterable

from django.conf import settings

from chat_project.redis_client import get_redis, key, user_tag

PROFILE_FIELDS = ("username", "nickname", "avatar_url")
PROFILE_CACHE_SECONDS = 24 * 3600


def profile_key(user_id: int) -> str:
    return key("{p:%d}" % user_id, "profile")


def sockets_key(user_id: int) -> str:
    return key(user_tag(user_id), "sockets")


def queue_profile_reads(pipe, user_ids: Iterable[int]) -> None:
    for user_id in user_ids:
        pipe.hgetall(profile_key(user_id))


def queue_online_reads(pipe, user_ids: Iterable[int]) -> None:
    now = time.time()
    for user_id in user_ids:
        pipe.zcount(sockets_key(user_id), now, "+inf")


def cache_profiles(profiles: Iterable[dict]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for profile in profiles:
        name = profile_key(profile["user_id"])
        pipe.hset(name, mapping={field: profile[field] for field in PROFILE_FIELDS})
        pipe.expire(name, PROFILE_CACHE_SECONDS)
    pipe.execute()


def forget_profile(user_id: int) -> None:
    get_redis().delete(profile_key(user_id))


def online_flags(user_ids: list[int]) -> dict[int, bool]:
    pipe = get_redis().pipeline(transaction=False)
    queue_online_reads(pipe, user_ids)
    return {user_id: count > 0 for user_id, count in zip(user_ids, pipe.execute(), strict=True)}


def is_online(user_id: int) -> bool:
    return online_flags([user_id])[user_id]


def register_socket(user_id: int, channel_name: str) -> None:
    """Mark one socket of the user as live (also the heartbeat)."""
    ttl = settings.CHAT_ONLINE_TTL_SECONDS
    now = time.time()
    name = sockets_key(user_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(name, {channel_name: now + ttl})
    # Sockets of dead processes: drop what expired long ago so the set stays small.
    pipe.zremrangebyscore(name, "-inf", now - ttl)
    pipe.expire(name, ttl * 2)
    pipe.execute()


def unregister_socket(user_id: int, channel_name: str) -> None:
    get_redis().zrem(sockets_key(user_id), channel_name)
