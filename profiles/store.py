"""Redis keys of the profiles app: the profile cache and online presence.

Profile cache: ``{p:<id>}:profile`` hash (username, nickname, avatar_url,
is_active "1"/"0", last_seen ISO time or ""), filled on a miss and deleted
when the profile changes; last_seen is written in place when a user's last
socket closes.

Presence: ``{u:<id>}:sockets`` sorted set, member = a socket's channel name,
score = the time its registration expires. A socket's heartbeat pushes its
score forward; a process that dies without closing its sockets leaves scores
that simply fall into the past, so the user stops counting as online within
CHAT_ONLINE_TTL_SECONDS. Closing one of two tabs removes one member only.
Registering and unregistering are scripts that also say whether the user
came online or went offline with it (for ``presence`` frames), and whether
the socket's entry had been lost (a Redis flush or restart).
"""

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from django.conf import settings

from chat_project.common.redis_client import get_redis, key, queue_script, user_tag

PROFILE_FIELDS = ("username", "nickname", "avatar_url", "is_active", "last_seen")
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


def parse_profile_reads(user_ids: list[int], replies: list) -> dict[int, dict]:
    """The replies of ``queue_profile_reads``: {user_id: cached hash} ({} for a miss)."""
    return dict(zip(user_ids, replies, strict=True))


def parse_online_reads(user_ids: list[int], replies: list) -> dict[int, bool]:
    """The replies of ``queue_online_reads``: {user_id: online}."""
    return {user_id: count > 0 for user_id, count in zip(user_ids, replies, strict=True)}


def has_every_field(cached: dict) -> bool:
    """False for a miss, and for a hash cached before a field was added (it is refilled)."""
    return all(field in cached for field in PROFILE_FIELDS)


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


# KEYS[1] the user's sockets; ARGV: member, now, ttl. Returns
# {1 if the member was new, live sockets before it}: new on a heartbeat means
# the registration was lost; none live before means the user came online.
_REGISTER = """
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local before = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local added = redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('EXPIRE', KEYS[1], ttl * 2)
return {added, before}
"""

# KEYS[1] the user's sockets; ARGV: member, now. Returns the live sockets left.
_UNREGISTER = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
"""


@dataclass(frozen=True)
class Registration:
    was_lost: bool  # the socket's entry was missing: Redis lost it (or this is the first time)
    came_online: bool  # no other socket of the user was live


def register_sockets(sockets: list[tuple[int, str]]) -> list[Registration]:
    """Mark each (user_id, channel_name) as a live socket of its user (a process's, or those opening at once),
    in one round trip."""
    now, ttl = repr(time.time()), settings.CHAT_ONLINE_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for user_id, channel_name in sockets:
        queue_script(pipe, _REGISTER, [sockets_key(user_id)], [channel_name, now, ttl])
    return [Registration(was_lost=bool(added), came_online=before == 0) for added, before in pipe.execute()]


def unregister_sockets(sockets: list[tuple[int, str]]) -> list[bool]:
    """Drop each (user_id, channel_name) in one round trip (a stopping process's sockets, or those closing at
    once); True for a socket when no live socket of its user is left (they went offline).

    Each answer counts the sockets left after its own removal, in order: of
    two sockets of one user, only the last removed can answer True.
    """
    if not sockets:
        return []
    now = repr(time.time())
    pipe = get_redis().pipeline(transaction=False)
    for user_id, channel_name in sockets:
        queue_script(pipe, _UNREGISTER, [sockets_key(user_id)], [channel_name, now])
    # The script answers a count.
    return [int(left) == 0 for left in pipe.execute()]


def presence_states(user_ids: list[int]) -> dict[int, tuple[bool, float | None]]:
    """Per user: (online, when the newest registration lapsed as a Unix time, or None).

    The lapse time is the last sign of life of a user whose server process died
    without closing their sockets (their entries are kept one more TTL).
    """
    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zcount(sockets_key(user_id), "(%r" % now, "+inf")
        pipe.zrange(sockets_key(user_id), -1, -1, withscores=True)
    replies = pipe.execute()
    states = {}
    for index, user_id in enumerate(user_ids):
        live, newest = replies[2 * index], replies[2 * index + 1]
        states[user_id] = (live > 0, newest[0][1] if newest and not live else None)
    return states


# Sets the cached last_seen only where the profile is cached (a miss refills it all).
_SET_IF_CACHED = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""


def cache_last_seen(times: dict[int, str]) -> None:
    """Each user's last_seen (ISO time) into their cached profile, where it is cached; one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id, iso_time in times.items():
        queue_script(pipe, _SET_IF_CACHED, [profile_key(user_id)], ["last_seen", iso_time])
    pipe.execute()


# --- API tokens ---------------------------------------------------------------
# ``{tok:<digest>}:user``: the user id of an API token of an active user, so a
# REST request needs no SQL to authenticate. The token's SHA-256 names the key
# (Redis never holds a usable token). Dropped when the token is deleted or the
# user deactivated (profiles/signals.py); the time-to-live bounds a change made
# without signals (a bulk update).
TOKEN_CACHE_SECONDS = 60


def token_cache_key(token: str) -> str:
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return key("{tok:%s}" % digest, "user")


def cached_token_user(token: str) -> int | None:
    value = cast("str | None", get_redis().get(token_cache_key(token)))  # redis-py: sync or async reply
    return int(value) if value is not None else None


def cache_token_user(token: str, user_id: int) -> None:
    get_redis().set(token_cache_key(token), user_id, ex=TOKEN_CACHE_SECONDS)


def cached_token_users(tokens: list[str]) -> dict[str, int]:
    """``cached_token_user`` of several tokens in one round trip: the remembered ones' user ids."""
    pipe = get_redis().pipeline(transaction=False)
    for token in tokens:
        pipe.get(token_cache_key(token))
    return {token: int(value) for token, value in zip(tokens, pipe.execute(), strict=True) if value is not None}


def cache_token_users(users: dict[str, int]) -> None:
    """``cache_token_user`` of several tokens in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for token, user_id in users.items():
        pipe.set(token_cache_key(token), user_id, ex=TOKEN_CACHE_SECONDS)
    pipe.execute()


def forget_tokens(tokens: list[str]) -> None:
    if tokens:
        get_redis().delete(*[token_cache_key(t) for t in tokens])


# --- blocks (PROTOCOL.md 1.2) -----------------------------------------------------
# ``{u:<id>}:blocks``: a set caching the user's blocks from t_block, members
# "out:<id>" (this user blocks them) and "in:<id>" (they block this user),
# plus "ready" once built. ``{u:<id>}:blocks:v`` counts the changes: a block
# or unblock bumps both users' counters and drops their sets, and a rebuild
# writes its set only if the counter is still the one it read before reading
# the database, so a rebuild that raced a change never stores the old state.

_WRITE_BLOCKS_IF_UNCHANGED = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
return 1
"""


def blocks_key(user_id: int) -> str:
    return key(user_tag(user_id), "blocks")


def blocks_version_key(user_id: int) -> str:
    return key(user_tag(user_id), "blocks", "v")


def queue_block_reads(pipe, user_id: int) -> None:
    pipe.get(blocks_version_key(user_id))
    pipe.smembers(blocks_key(user_id))


def parse_block_reads(replies: list) -> tuple[str, tuple[set[int], set[int]] | None]:
    """(the change counter, (blocking, blocked_by) or None when the set must be rebuilt)."""
    version, members = replies
    if "ready" not in members:
        return version or "0", None
    blocking = {int(m[4:]) for m in members if m.startswith("out:")}
    blocked_by = {int(m[3:]) for m in members if m.startswith("in:")}
    return version or "0", (blocking, blocked_by)


def write_blocks(user_id: int, version: str, blocking: set[int], blocked_by: set[int]) -> None:
    members = ["ready", *(f"out:{u}" for u in blocking), *(f"in:{u}" for u in blocked_by)]
    get_redis().eval(_WRITE_BLOCKS_IF_UNCHANGED, 2, blocks_key(user_id), blocks_version_key(user_id), version, *members)


def forget_blocks(user_ids: Iterable[int]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.incr(blocks_version_key(user_id))
        pipe.delete(blocks_key(user_id))
    pipe.execute()


# What ``rebuild_redis`` drops: the profile cache and the block sets. Presence
# (``sockets``) is live state and the token cache forgets by itself; neither
# comes from rows.
DERIVED_KEY_PATTERNS = ("{p:*}:profile", "{u:*}:blocks")
