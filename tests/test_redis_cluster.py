"""The data structures on a real three-node Redis Cluster.

Every multi-key operation must stay in one slot (hash tags), and pipelines
and scripts must work through the cluster client. The cluster is started
here, on free local ports, and shut down afterwards. CHAT_REDIS_URL lists
every node (startup nodes, comma-separated), as a cluster deployment does.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from redis.cluster import RedisCluster

from chat_project.beat import BeatLease, lease_key
from chat_project.common import redis_client
from messaging import ids
from profiles import store as profile_store

from .conftest import API, PASSWORD, wait_for
from .live import ROOT
from .sentinel import wait_redis


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = random.randrange(20000, 30000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


@pytest.fixture(scope="module")
def cluster_url():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed")
    workdir = tempfile.mkdtemp(prefix="chat-cluster-")
    ports = sorted({cluster_port() for _ in range(3)})
    assert len(ports) == 3
    for port in ports:
        subprocess.run(
            [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf", "--save", "", "--appendonly", "no",
                "--dir", workdir, "--daemonize", "yes",
            ],
            check=True,
        )  # fmt: skip
    try:
        for port in ports:
            wait_redis(lambda p=port: redis.Redis(port=p).ping(), 20, "the Redis cluster")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        wait_redis(lambda: all(_cluster_ok(p) for p in ports), 20, "the Redis cluster")
        yield ",".join(f"redis://127.0.0.1:{p}" for p in ports)
    finally:
        for port in ports:
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _cluster_ok(port: int) -> bool:
    return redis.Redis(port=port).cluster("info")["cluster_state"] == "ok"


@pytest.fixture
def on_cluster(settings, cluster_url):
    settings.CHAT_REDIS_CLUSTER = True
    settings.CHAT_REDIS_URL = cluster_url
    redis_client.get_redis.cache_clear()
    client = redis_client.get_redis()
    assert isinstance(client, RedisCluster)
    client.flushall()
    yield client
    redis_client.get_redis.cache_clear()


def snapshot(*users):
    return {
        user.username: (
            user.get("conversations").json(),
            user.get("unread").json(),
            user.get("offline").json(),
        )
        for user in users
    }


def test_every_operation_works_on_a_cluster_and_rebuilds_after_a_flush(on_cluster, alice, bob, carol):
    first = alice.send(bob, "one")
    alice.send(bob, "two")
    third = bob.send(alice, "three")
    carol.send(alice, "from carol")
    assert bob.post(f"conversations/{first['conversation_id']}/read", {"up_to": first["msg_id"]}).status_code == 200
    assert bob.delete(f"messages/{third['msg_id']}").status_code == 204
    assert alice.post("offline/ack", {"sender_id": carol.id, "up_to": third["msg_id"] + 10**9}).status_code == 204

    before = snapshot(alice, bob, carol)
    assert before["bob"][1]["total"] == 1
    assert [c["last_message"]["content"] for c in before["alice"][0]["results"]] == ["from carol", ""]
    assert [g["sender"]["username"] for g in before["alice"][2]["results"]] == ["bob"]

    on_cluster.flushall()
    assert snapshot(alice, bob, carol) == before
    call_command("rebuild_redis")
    assert snapshot(alice, bob, carol) == before


def test_rebuild_drops_derived_keys_on_every_master(on_cluster, alice, bob):
    """rebuild_redis SCANs each primary: keys on all three masters are dropped, then rebuilt."""
    alice.send(bob, "spread")
    strays = [redis_client.key(redis_client.user_tag(10_000 + n), "convs", "ready") for n in range(60)]
    for name in strays:
        on_cluster.set(name, 1)
    masters = {node.name for node in on_cluster.get_primaries()}
    assert len(masters) == 3
    assert {on_cluster.get_node_from_key(name).name for name in strays} == masters
    call_command("rebuild_redis")
    assert not any(on_cluster.exists(name) for name in strays)
    assert alice.get("conversations").json()["results"][0]["last_message"]["content"] == "spread"


def test_the_django_cache_works_across_slots_and_clear_keeps_the_data(on_cluster, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "chat_project.common.cluster_cache.ClusterRedisCache",
            "LOCATION": settings.CHAT_REDIS_URL,
            "KEY_PREFIX": settings.CHAT_REDIS_PREFIX + ":cache",
        }
    }
    values = {f"k{n}": {"n": n} for n in range(20)}
    cache.set_many(values, 60)
    # The keys are spread over the masters: every call below crosses slots.
    names = [cache.make_key(k) for k in values]
    assert len({on_cluster.get_node_from_key(n).name for n in names}) == 3
    cache.set("alone", [1, 2], 60)
    assert cache.get_many(list(values)) == values
    assert cache.get("alone") == [1, 2]
    assert cache.add("alone", "again") is False
    assert cache.add("count", 1)
    assert cache.incr("count") == 2
    cache.delete_many(["k1", "k2"])
    assert set(cache.get_many(["k1", "k2", "k3"])) == {"k3"}
    data = redis_client.key(redis_client.user_tag(5), "convs")
    on_cluster.set(data, "kept")
    cache.clear()
    assert cache.get_many(list(values)) == {}
    assert on_cluster.get(data) == "kept"


def test_tokens_rate_limits_id_workers_and_the_beat_lease_on_a_cluster(on_cluster, alice, anonymous, settings):
    # Token cache: the token is looked up once, then served from the cluster.
    assert alice.get("me").status_code == 200
    assert profile_store.cached_token_user(alice.token) == alice.id
    # Forgetting several tokens deletes keys of several slots: one DEL per slot.
    profile_store.cache_token_user("another-token", alice.id)
    profile_store.forget_tokens([alice.token, "another-token"])
    assert profile_store.cached_token_user(alice.token) is None
    assert profile_store.cached_token_user("another-token") is None
    # Rate limits: one key per identity and window.
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (2, 60)
    codes = [
        anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json").status_code
        for _ in range(3)
    ]
    assert codes[-1] == 429
    # A message-id worker leased on the cluster.
    generator = ids.IdGenerator()
    first, second = generator.next_id(), generator.next_id()
    assert second > first
    assert on_cluster.get(redis_client.key("idworker", generator._worker)) == generator._token
    # The beat lease: one holder; the other gets it once it is given back.
    one, other = BeatLease(5), BeatLease(5)
    assert one.hold() and not other.hold()
    assert one.hold()  # renewed
    one.release()
    assert on_cluster.get(lease_key()) is None
    assert other.hold()
    other.release()


@pytest.mark.e2e
def test_presence_and_numbered_pushes_through_a_daphne_on_the_cluster(
    on_cluster, settings, start_daphne, celery_worker, alice, bob
):
    server = start_daphne(CHAT_REDIS_CLUSTER="on", CHAT_REDIS_URL=settings.CHAT_REDIS_URL)
    bob_socket = server.socket(bob.token)
    try:
        bob_socket.expect("ready")
        assert alice.get(f"users/{bob.id}").json()["online"] is True
        sent = alice.send(bob, "over the cluster")
        assert bob_socket.expect("message")["message"]["msg_id"] == sent["msg_id"]
        # The push was numbered on the cluster (the socket checks the numbers at each heartbeat).
        assert on_cluster.get(redis_client.key(redis_client.user_tag(bob.id), "pushseq")) == "1"
    finally:
        bob_socket.close()
    wait_for(lambda: alice.get(f"users/{bob.id}").json()["online"] is False, timeout=10)


def test_check_services_pings_the_cluster_and_skips_what_is_not_a_single_redis(cluster_url):
    """scripts/check_services.py (bootstrap) on a cluster host's environment."""
    env = {
        **os.environ,
        "CHAT_REDIS_CLUSTER": "on",
        "CHAT_REDIS_URL": cluster_url,
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/chat;amqp://guest:guest@127.0.0.1:2/chat",
        "CHAT_CHANNEL_LAYER_SENTINELS": "127.0.0.1:1,127.0.0.1:2",
    }
    script = [sys.executable, "scripts/check_services.py"]
    done = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    down = subprocess.run(
        script,
        cwd=ROOT,
        env={**env, "CHAT_REDIS_URL": "redis://127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 1
    assert "CHAT_REDIS_URL" in down.stderr
