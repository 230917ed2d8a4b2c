"""The channel layer sharded over Sentinel-managed masters, through a failover.

Two shards (``layer0``, ``layer1``), each a master with a replica, watched by
three sentinels: a real daphne and the fan-out worker use them through
CHAT_CHANNEL_LAYER_SENTINELS / CHAT_CHANNEL_LAYER_MASTERS. The masters are
killed with SIGKILL under traffic; Sentinel promotes the replicas and pushes
flow again. Pub/sub loses what is published while a subscriber reconnects
(channels_redis #256): every message is either pushed, or its socket was told
to ``resync`` (the push numbers), never silently lost.
"""

import shutil
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat_project.env import sentinel_layer_hosts

from .sentinel import SentinelSet

pytestmark = pytest.mark.e2e

MASTERS = ["layer0", "layer1"]


@pytest.fixture(scope="module")
def sentinels():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed")
    group = SentinelSet(MASTERS)
    yield group
    group.stop()


@pytest.fixture
def sentinel_layer(settings, sentinels):
    config = settings.CHANNEL_LAYERS["default"]
    hosts = sentinel_layer_hosts("test", sentinels.sentinels, MASTERS, socket_timeout=None, socket_connect_timeout=5)
    settings.CHANNEL_LAYERS = {"default": {**config, "CONFIG": {**config["CONFIG"], "hosts": hosts}}}
    return {
        "CHAT_CHANNEL_LAYER_SENTINELS": ",".join(sentinels.sentinels),
        "CHAT_CHANNEL_LAYER_MASTERS": ",".join(MASTERS),
    }


def test_the_layer_shards_over_the_sentinel_masters_in_order(sentinel_layer, sentinels):
    async def shard_hosts() -> list[dict]:
        return [shard.host for shard in get_channel_layer()._get_layer()._shards]

    hosts = async_to_sync(shard_hosts)()
    assert [host["master_name"] for host in hosts] == MASTERS
    assert all(host["socket_timeout"] is None for host in hosts)
    assert hosts[0]["sentinels"] == [("127.0.0.1", int(s.rsplit(":", 1)[1])) for s in sentinels.sentinels]


def test_pushes_flow_again_after_sentinel_promotes_a_replica(
    sentinels, sentinel_layer, start_daphne, celery_worker, alice, bob
):
    server = start_daphne(CHAT_HEARTBEAT_SECONDS="1", **sentinel_layer)
    bob_socket = server.socket(bob.token)
    bob_socket.expect("ready")
    first = alice.send(bob, "before")
    assert bob_socket.expect("message")["message"]["msg_id"] == first["msg_id"]

    # Messages keep coming while both masters die and are replaced.
    sent: list[int] = []
    stop = threading.Event()

    def keep_sending() -> None:
        n = 0
        while not stop.is_set():
            sent.append(alice.send(bob, f"during {n}", client_msg_id=f"during-{n}")["msg_id"])
            n += 1
            time.sleep(0.2)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        time.sleep(0.5)
        old = {name: sentinels.kill_master(name) for name in MASTERS}
        for name in MASTERS:
            sentinels.wait_promoted(name, old[name])
        time.sleep(2)
    finally:
        stop.set()
        sender.join(10)
    assert len(sent) > 10

    # Every message during the failover reached the socket, or the socket was told to resync.
    frames = bob_socket.drain(4)
    pushed = {f["message"]["msg_id"] for f in frames if f["type"] == "message"}
    resynced = any(f["type"] == "resync" for f in frames)
    missing = [m for m in sent if m not in pushed]
    assert not missing or resynced, f"{len(missing)} message(s) neither pushed nor resynced"

    # And after the failover, pushes flow again, on the promoted masters.
    after = alice.send(bob, "after")
    assert bob_socket.expect("message", timeout=15)["message"]["msg_id"] == after["msg_id"]
    bob_socket.close()
