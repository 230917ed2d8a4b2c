"""The data structures on a real three-node Redis Cluster.

Every multi-key operation must stay in one slot (hash tags), and pipelines
and scripts must work through the cluster client. The cluster is started
here, on free local ports, and shut down afterwards.
"""

import random
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis
from django.core.management import call_command
from redis.cluster import RedisCluster

from chat_project.common import redis_client


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
            _wait(lambda p=port: redis.Redis(port=p).ping())
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        _wait(lambda: all(redis.Redis(port=p).cluster("info")["cluster_state"] == "ok" for p in ports))
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for port in ports:
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the Redis cluster did not come up")
        time.sleep(0.2)


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
