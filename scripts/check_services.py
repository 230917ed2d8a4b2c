"""Check that MariaDB and Redis answer; say exactly which one does not and how to start it.

With --create-db, also create the application database (utf8mb4).
"""

import os
import sys

import MySQLdb
import redis

DB_HOST = os.environ.get("CHAT_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("CHAT_DB_PORT", "3306"))
DB_USER = os.environ.get("CHAT_DB_USER", "root")
DB_PASSWORD = os.environ.get("CHAT_DB_PASSWORD", "")
DB_NAME = os.environ.get("CHAT_DB_NAME", "chat")
REDIS_URLS = {
    "CHAT_REDIS_URL": os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1"),
    "CHAT_CHANNEL_LAYER_URL": os.environ.get("CHAT_CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/2"),
}
# On a cluster (README's table) some of these are not single Redis servers:
# a Redis Cluster is pinged through its startup nodes, a RabbitMQ broker and
# a channel layer behind Sentinel are not checked here.
REDIS_CLUSTER = os.environ.get("CHAT_REDIS_CLUSTER", "").strip().lower() in ("1", "true", "yes", "on")
if not REDIS_URLS["CELERY_BROKER_URL"].startswith(("redis://", "rediss://", "unix://")):
    del REDIS_URLS["CELERY_BROKER_URL"]
if os.environ.get("CHAT_CHANNEL_LAYER_SENTINELS"):
    del REDIS_URLS["CHAT_CHANNEL_LAYER_URL"]


def check_mariadb(create_db: bool) -> str | None:
    try:
        conn = MySQLdb.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, passwd=DB_PASSWORD, connect_timeout=5)
    except MySQLdb.Error as exc:
        return (
            f"MariaDB is not reachable at {DB_HOST}:{DB_PORT} as {DB_USER!r}: {exc.args[-1]}\n"
            "  Start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd\n"
            "  (or set CHAT_DB_HOST / CHAT_DB_PORT / CHAT_DB_USER / CHAT_DB_PASSWORD)"
        )
    if create_db:
        cursor = conn.cursor()
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{DB_NAME}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return None


def check_redis() -> str | None:
    for name, url in REDIS_URLS.items():
        try:
            if name == "CHAT_REDIS_URL" and REDIS_CLUSTER:
                cluster_ping(url)
            else:
                redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
        except redis.RedisError as exc:
            return (
                f"Redis is not reachable at {url} ({name}): {exc}\n"
                '  Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
            )
    return None


def cluster_ping(urls: str) -> None:
    """Ping a Redis Cluster through the first of its startup nodes that answers."""
    from redis.cluster import ClusterNode, RedisCluster
    from redis.exceptions import RedisClusterException

    nodes = []
    for url in (u.strip() for u in urls.split(",") if u.strip()):
        parsed = redis.connection.parse_url(url if "://" in url else f"redis://{url}")
        nodes.append(ClusterNode(parsed.get("host", "127.0.0.1"), parsed.get("port", 6379)))
    try:
        client = RedisCluster(startup_nodes=nodes, socket_connect_timeout=3, socket_timeout=3)
    except RedisClusterException as exc:  # no startup node answered (not a RedisError)
        raise redis.ConnectionError(str(exc)) from None
    try:
        client.ping()
    finally:
        client.close()


def main() -> int:
    problems = [p for p in (check_mariadb("--create-db" in sys.argv), check_redis()) if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"MariaDB at {DB_HOST}:{DB_PORT} and Redis answer.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
