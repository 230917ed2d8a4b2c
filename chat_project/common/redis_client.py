"""The one Redis connection pool every app's store module uses.

Each app spells its own keys (``<app>/store.py``); this module only hands out
the client. With CHAT_REDIS_CLUSTER=on it is a RedisCluster client, which is
why every key carries a hash tag: the commands of one operation land in one
slot. CHAT_REDIS_URL may then list several startup nodes, comma-separated
(``redis://10.0.0.1:7000,redis://10.0.0.2:7000``): the client needs one that
answers to learn the whole cluster.
"""

from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from redis.cluster import ClusterNode, RedisCluster

TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 5}


@lru_cache(maxsize=1)
def get_redis() -> "redis.Redis | RedisCluster":
    url = settings.CHAT_REDIS_URL
    if settings.CHAT_REDIS_CLUSTER:
        return cluster_client(url, decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, **TIMEOUTS)


def cluster_client(urls: str, **options: Any) -> RedisCluster:
    """A RedisCluster client from ``redis://[user:pass@]host:port[,redis://host:port…]`` (startup nodes).

    The credentials of the first URL apply to every node; a cluster has a single
    database, so a ``/db`` path is ignored.
    """
    nodes = []
    auth: dict[str, Any] = {}
    for index, url in enumerate(u.strip() for u in urls.split(",") if u.strip()):
        parts = urlsplit(url if "://" in url else f"redis://{url}")
        if parts.hostname is None:
            raise ValueError(f"not a Redis URL: {url!r}")
        nodes.append(ClusterNode(parts.hostname, parts.port or 6379))
        if index == 0:
            if parts.username:
                auth["username"] = unquote(parts.username)
            if parts.password:
                auth["password"] = unquote(parts.password)
            if parts.scheme == "rediss":
                options.setdefault("ssl", True)
    if not nodes:
        raise ValueError("no Redis Cluster startup node given")
    return RedisCluster(startup_nodes=nodes, **{**TIMEOUTS, **auth, **options})


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


class Reads:
    """Reads queued by several stores on one pipeline: one round trip, and each gets back only its own replies.

    A caller never slices a shared reply list by position, so it does not
    depend on how many commands another app's store queues::

        reads = Reads()
        unread = reads.add(unread_store.queue_reads, user_id)
        profiles = reads.add(profile_store.queue_profile_reads, peer_ids)
        reads.execute()
        counts = unread_store.parse_reads(reads[unread])
    """

    def __init__(self, client=None) -> None:
        self._pipe = (client or get_redis()).pipeline(transaction=False)
        self._spans: list[tuple[int, int]] = []
        self._replies: list | None = None

    def add(self, queue: Callable[..., None], *args: Any) -> int:
        """Queue ``queue(pipe, *args)``; the number returned gets its replies after ``execute``."""
        start = len(self._pipe)
        queue(self._pipe, *args)
        self._spans.append((start, len(self._pipe)))
        return len(self._spans) - 1

    def execute(self) -> None:
        self._replies = self._pipe.execute() if len(self._pipe) else []

    def __getitem__(self, slot: int) -> list:
        if self._replies is None:
            raise RuntimeError("Reads.execute() has not run")
        start, end = self._spans[slot]
        return self._replies[start:end]


def delete_matching(patterns: Iterable[str]) -> int:
    """Delete every key under the deployment prefix that matches one of the glob patterns (``rebuild_redis``).

    One SCAN over the prefix serves every pattern: a SCAN walks the whole
    keyspace whatever its MATCH, so one per pattern would walk it again and again.
    """
    wanted = [key(pattern) for pattern in patterns]
    client = get_redis()
    removed = 0
    batch: list[str] = []
    for name in client.scan_iter(match=key("*"), count=1000):
        if any(fnmatchcase(name, pattern) for pattern in wanted):
            batch.append(name)
            if len(batch) >= 500:
                removed += _delete(client, batch)
                batch = []
    return removed + _delete(client, batch)


def _delete(client, names: list[str]) -> int:
    if not names:
        return 0
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.delete(name)
    return sum(pipe.execute())
