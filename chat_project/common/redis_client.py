"""The one Redis connection pool every app's store module uses.

Each app spells its own keys (``<app>/store.py``); this module only hands out
the client. With CHAT_REDIS_CLUSTER=on it is a RedisCluster client, which is
why every key carries a hash tag: the commands of one operation land in one
slot.
"""

from collections.abc import Sequence
from functools import lru_cache

import redis
from django.conf import settings
from redis.cluster import RedisCluster


@lru_cache(maxsize=1)
def get_redis() -> "redis.Redis | RedisCluster":
    url = settings.CHAT_REDIS_URL
    if settings.CHAT_REDIS_CLUSTER:
        return RedisCluster.from_url(url, decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)


def key(*parts: object) -> str:
    """Join key parts under the deployment prefix: key("{u:7}", "convs")."""
    return ":".join([settings.CHAT_REDIS_PREFIX, *(str(p) for p in parts)])


def user_tag(user_id: int) -> str:
    return "{u:%d}" % user_id


def conversation_tag(conversation_id: int) -> str:
    return "{c:%d}" % conversation_id


def queue_script(pipe, script: str, keys: list[str], args: Sequence[object]) -> None:
    """Queue a Lua script on a pipeline.

    Spelled as a raw EVAL because a cluster pipeline's ``eval`` method is
    not the command; the cluster client routes EVAL by its keys, which the
    hash tags keep in one slot.
    """
    pipe.execute_command("EVAL", script, len(keys), *keys, *args)
