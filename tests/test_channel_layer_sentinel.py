"""The channel layer sharded over Sentinel-managed masters, through a failover.

Two shards (``layer0``, ``layer1``), each a master with a replica, watched by
three sentinels: a real daphne and the fan-out worker use them through
CHAT_CHANNEL_LAYER_SENTINELS / CHAT_CHANNEL_LAYER_MASTERS. The masters are
killed with SIGKILL under traffic; Sentinel promotes the replicas and pushes
flow again. Pub/sub loses what is published while a subscriber reconnects
(channels_redis #256): every message is either pushed, or its socket was told
to ``resync`` (the push numbers), never silently lost. The core layer (a
queue per process) loses the process's receive loop with its shard: its
sockets are closed (1011) and reconnect.
"""

import shutil
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from websockets.exceptions import ConnectionClosed

from chat_project.env import sentinel_layer_hosts

from .sentinel import SentinelSet

pytestmark = pytest.mark.e2e

MASTERS = ["layer0", "layer1"]


@pytest.fixture
def sentinels():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed")
    group = SentinelSet(MASTERS)
    yield group
    group.stop()


BACKENDS = {
    "pubsub": "chat_project.common.pubsub_layer.SlimPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}


@pytest.fixture(params=["pubsub", "core"])
def sentinel_layer(request, settings, sentinels):
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = sentinel_layer_hosts("test", sentinels.sentinels, MASTERS, socket_timeout=None, socket_connect_timeout=5)
    extra = {"capacity": 10000, "expiry": 60} if request.param == "core" else {}
    layer = {"prefix": config["prefix"], "hosts": hosts, **extra}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": BACKENDS[request.param], "CONFIG": layer}}
    return {
        "CHAT_CHANNEL_LAYER_BACKEND": request.param,
        "CHAT_CHANNEL_LAYER_SENTINELS": ",".join(sentinels.sentinels),
        "CHAT_CHANNEL_LAYER_MASTERS": ",".join(MASTERS),
    }


def test_the_layer_shards_over_the_sentinel_masters_in_order(sentinel_layer, sentinels):
    async def shard_hosts() -> list[dict]:
        layer = get_channel_layer()
        if sentinel_layer["CHAT_CHANNEL_LAYER_BACKEND"] == "core":
            return layer.hosts
        return [shard.host for shard in layer._get_layer()._shards]

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
    frames, close_code = None, None
    try:
        frames = bob_socket.drain(4)
    except ConnectionClosed as closed:
        close_code = closed.rcvd.code if closed.rcvd else None
    if frames is None:
        # The core layer: the daphne's receive loop (channels' consumer) dies with the
        # shard holding its process channel, and the socket is closed with 1011. The
        # client reconnects and syncs, as after any close; pubsub keeps its sockets.
        assert sentinel_layer["CHAT_CHANNEL_LAYER_BACKEND"] == "core"
        assert close_code == 1011
        bob_socket = server.socket(bob.token)
        bob_socket.expect("ready")
    else:
        pushed = {f["message"]["msg_id"] for f in frames if f["type"] == "message"}
        resynced = any(f["type"] == "resync" for f in frames)
        missing = [m for m in sent if m not in pushed]
        assert not missing or resynced, f"{len(missing)} message(s) neither pushed nor resynced"

    # And after the failover, pushes flow again, on the promoted masters.
    after = alice.send(bob, "after")
    assert bob_socket.expect("message", timeout=15)["message"]["msg_id"] == after["msg_id"]
    bob_socket.close()
