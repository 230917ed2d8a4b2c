"""The `footprint` phase: what the data of the load phase costs in Redis and in MariaDB.

Redis: MEMORY USAGE of every data key of the bench's prefix, summed by the
hash tag that owns it ({u:<id>} per user, {p:<id>} per profile, {c:<id>} per
conversation, {m:<id>} per message in flight, the rest shared), then divided
by the users, conversations and messages that exist. MariaDB: each table's
rows and bytes (data and indexes) after ANALYZE TABLE, and bytes per message.
docs/scaling.md builds its capacity model on these figures.
"""

import re
from collections import defaultdict

import redis

from . import system

TAG = re.compile(rb"\{([a-z]+):[0-9]+\}")
TABLES = ("t_msg_record_list", "t_msg_stream", "t_conversation", "t_unread_counter", "t_user", "t_search_gram")


def redis_bytes(client=None, prefix: str = system.PREFIX) -> dict[str, dict[str, int]]:
    """Per owner kind (u, p, c, m, shared): keys, distinct owners, bytes.

    ``client`` is this machine's Redis by default; a RedisCluster scans every master.
    """
    client = client or redis.Redis.from_url(system.REDIS_URL)
    owners: dict[str, set[bytes]] = defaultdict(set)
    keys: dict[str, int] = defaultdict(int)
    used: dict[str, int] = defaultdict(int)
    names = list(client.scan_iter(match=prefix + ":*", count=1000))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    for name, size in zip(names, pipe.execute(), strict=True):
        match = TAG.search(name)
        kind = match.group(1).decode() if match else "shared"
        if match:
            owners[kind].add(match.group(0))
        keys[kind] += 1
        used[kind] += size or 0
    client.close()
    return {kind: {"keys": keys[kind], "owners": len(owners[kind]), "bytes": used[kind]} for kind in sorted(keys)}


def database_bytes(connect) -> dict[str, dict[str, int]]:
    """Per table: rows (exact) and bytes of data and of indexes (InnoDB's figures after ANALYZE)."""
    conn = connect()
    try:
        cursor = conn.cursor()
        tables = {}
        for table in TABLES:
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            (rows,) = cursor.fetchone()
            cursor.execute(
                "SELECT data_length, index_length FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = %s",
                [table],
            )
            data, index = cursor.fetchone()
            tables[table] = {"rows": rows, "data_bytes": data, "index_bytes": index}
    finally:
        conn.close()
    return tables


def measure(connect, redis_client=None, prefix: str = system.PREFIX) -> dict:
    in_redis = redis_bytes(redis_client, prefix)
    in_database = database_bytes(connect)
    messages = in_database["t_msg_record_list"]["rows"]
    users = in_database["t_user"]["rows"]
    conversations = in_database["t_conversation"]["rows"]

    def per(total: int, count: int) -> float | None:
        return round(total / count, 1) if count else None

    user_bytes = sum(in_redis.get(kind, {}).get("bytes", 0) for kind in ("u", "p"))
    record = in_database["t_msg_record_list"]
    grams = in_database["t_search_gram"]
    return {
        "messages": messages,
        "users": users,
        "conversations": conversations,
        "redis": in_redis,
        "redis_bytes_per_user": per(user_bytes, in_redis.get("u", {}).get("owners", 0)),
        "redis_bytes_per_conversation": per(in_redis.get("c", {}).get("bytes", 0), conversations),
        "database": in_database,
        "database_bytes_per_message": per(record["data_bytes"] + record["index_bytes"], messages),
        # The search index (messaging/search_index.py): its own table, per message of the table above.
        "search_index_bytes_per_message": per(grams["data_bytes"] + grams["index_bytes"], messages),
    }
