"""Django's cache on a Redis Cluster.

django-redis has no cluster client, and Django's own ``RedisCache`` talks to
single servers. This is Django's backend with the client swapped for a
``RedisCluster`` (chat_project/common/redis_client.py), and the few calls that
would span slots (MGET, MSET, DEL of many keys, FLUSHDB) done per key.
settings.py selects it when CHAT_REDIS_CLUSTER is on; LOCATION is
CHAT_REDIS_URL, startup nodes comma-separated.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.cluster import RedisCluster

from .redis_client import cluster_client


class ClusterCacheClient(RedisCacheClient):
    # Set by Django's RedisCacheClient (absent from its stubs).
    _servers: list[str]
    _serializer: Any

    def __init__(self, servers, key_prefix: str = "", **options) -> None:
        super().__init__(servers, **options)
        self._prefix = key_prefix
        self._cluster: RedisCluster | None = None

    def get_client(self, key=None, *, write=False):
        if self._cluster is None:
            # Values are pickled bytes (Django's serializer): no decode_responses.
            self._cluster = cluster_client(",".join(self._servers))
        return self._cluster

    def get_many(self, keys):
        keys = list(keys)
        values = self.get_client().mget_nonatomic(keys)
        return {k: self._serializer.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def set_many(self, data, timeout):
        pipe = self.get_client(write=True).pipeline(transaction=False)
        for name, value in data.items():
            pipe.set(name, self._serializer.dumps(value), ex=timeout)
        pipe.execute()

    def delete_many(self, keys):
        pipe = self.get_client(write=True).pipeline(transaction=False)
        for name in keys:
            pipe.delete(name)
        pipe.execute()

    def clear(self):
        """Only the cache's own keys (its prefix), never the data structures beside them."""
        client = self.get_client(write=True)
        names = list(client.scan_iter(match=self._prefix + "*", count=1000))
        if names:
            self.delete_many(names)
        return True


class ClusterRedisCache(RedisCache):
    _options: dict[str, Any]

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ClusterCacheClient
        self._options = {**self._options, "key_prefix": params.get("KEY_PREFIX", "")}
