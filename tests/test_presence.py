"""Presence over real sockets (PROTOCOL.md 1.1): watch, presence and profile frames,
last_seen and is_active in every Profile, and sockets that survive a Redis loss.

The daphne here beats every second (CHAT_HEARTBEAT_SECONDS=1), with a short
online TTL, so the repairs and checks the heartbeat does happen quickly.
"""

from datetime import datetime

import pytest
from django.conf import settings
from django.test import Client

from profiles.models import User

from .conftest import PASSWORD, clear_redis, wait_for
from .live import Daphne

pytestmark = pytest.mark.e2e

FAST = {"CHAT_HEARTBEAT_SECONDS": "1", "CHAT_ONLINE_TTL_SECONDS": "3"}


@pytest.fixture(scope="module")
def fast_daphne(django_db_setup, django_db_blocker):
    server = Daphne(FAST)
    yield server
    server.stop()


@pytest.fixture
def connect(fast_daphne):
    sockets = []

    def open_socket(user, server=None):
        sock = (server or fast_daphne).socket(user.token)
        sockets.append(sock)
        assert sock.expect("ready")["user_id"] == user.id
        return sock

    yield open_socket
    for sock in sockets:
        sock.close()


def watch(sock, *user_ids) -> None:
    sock.send({"type": "watch", "user_ids": list(user_ids)})


def is_iso_time(value) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def test_watching_a_user_follows_them_online_and_offline(connect, alice, bob):
    watcher = connect(alice)
    watch(watcher, bob.id)
    # Answered at once; Bob never connected.
    assert watcher.expect("presence") == {"type": "presence", "user_id": bob.id, "online": False, "last_seen": None}

    first = connect(bob)
    assert watcher.expect("presence") == {"type": "presence", "user_id": bob.id, "online": True, "last_seen": None}
    second = connect(bob)
    first.close()
    # One tab of two closed: still online.
    assert alice.get(f"users/{bob.id}").json()["online"] is True
    second.close()
    offline = watcher.expect("presence")
    assert offline["user_id"] == bob.id and offline["online"] is False and is_iso_time(offline["last_seen"])
    # No other presence frame: the first close did not make Bob look offline, nor a second online.
    assert not [f for f in watcher.drain(1.0) if f["type"] == "presence"]

    profile = alice.get(f"users/{bob.id}").json()
    assert profile["online"] is False and profile["last_seen"] == offline["last_seen"] and profile["is_active"] is True
    # A new watch answers with the stored last_seen.
    watch(watcher, bob.id)
    assert watcher.expect("presence")["last_seen"] == offline["last_seen"]


def test_watch_answers_only_for_users_that_exist_and_replaces_the_list(connect, alice, bob, carol):
    watcher = connect(alice)
    connect(carol)
    watch(watcher, bob.id, carol.id, 987654321, carol.id)
    answers = {f["user_id"]: f for f in (watcher.expect("presence"), watcher.expect("presence"))}
    assert answers[bob.id]["online"] is False and answers[carol.id]["online"] is True
    # Replacing the list with Carol only: Bob coming online is no longer news for this socket.
    watch(watcher, carol.id)
    assert watcher.expect("presence", user_id=carol.id)["online"] is True
    connect(bob)
    watch(watcher)  # [] clears; answered with nothing
    watcher.send({"type": "ping"})
    watcher.expect("pong")
    assert not [f for f in watcher.drain(1.0) if f["type"] == "presence"]


@pytest.mark.parametrize(
    "user_ids",
    [list(range(1, 102)), ["1"], [1.5], [True], [None], [[1]], [2**53], "1,2", {"a": 1}, None],
    ids=["101-ids", "string", "float", "bool", "null", "nested", "2^53", "text", "object", "missing"],
)
def test_bad_watch_lists_are_validation_errors(connect, alice, user_ids):
    sock = connect(alice)
    sock.send({"type": "watch", "user_ids": user_ids} if user_ids is not None else {"type": "watch"})
    error = sock.expect("error")
    assert error["code"] == "validation_error" and "user_ids" in error["errors"]
    sock.send({"type": "ping"})
    assert sock.expect("pong") == {"type": "pong"}


def test_a_hundred_ids_are_allowed(connect, alice, bob):
    sock = connect(alice)
    watch(sock, bob.id, *range(10**9, 10**9 + 99))
    assert sock.expect("presence")["user_id"] == bob.id


def test_watchers_hear_profile_changes_and_deactivation(connect, alice, bob, carol):
    watcher = connect(alice)
    watch(watcher, bob.id)
    watcher.expect("presence")
    bystander = connect(carol)

    assert bob.patch("me", {"nickname": "Bobby"}).status_code == 200
    frame = watcher.expect("profile")
    assert frame["profile"]["user_id"] == bob.id and frame["profile"]["nickname"] == "Bobby"
    assert frame["profile"]["is_active"] is True and frame["profile"]["last_seen"] is None

    assert bob.patch("me", {"avatar_url": "https://example.com/b.png"}).status_code == 200
    assert watcher.expect("profile")["profile"]["avatar_url"] == "https://example.com/b.png"
    # Logging in saves last_login: no news for watchers.
    assert Client().login(username=bob.username, password=PASSWORD)

    user = User.objects.get(pk=bob.id)
    user.is_active = False
    user.save()
    assert watcher.expect("profile")["profile"]["is_active"] is False
    # Nothing else (the login), and nothing for sockets that do not watch Bob.
    assert not [f for f in watcher.drain(1.0) if f["type"] == "profile"]
    assert not [f for f in bystander.drain(0.1) if f["type"] == "profile"]


def test_a_watched_user_whose_server_died_goes_offline(connect, start_daphne, alice, bob):
    watcher = connect(alice)
    watch(watcher, bob.id)
    watcher.expect("presence", online=False)
    doomed = start_daphne(**FAST)
    connect(bob, doomed)
    watcher.expect("presence", online=True)
    doomed.kill()
    # Within the online TTL (3 s here) plus a heartbeat; PROTOCOL.md allows TTL + 30 s.
    offline = watcher.expect("presence", timeout=40)
    assert offline["user_id"] == bob.id and offline["online"] is False and is_iso_time(offline["last_seen"])
    profile = alice.get(f"users/{bob.id}").json()
    assert profile["online"] is False and profile["last_seen"] == offline["last_seen"]


def test_a_socket_survives_a_redis_loss_and_asks_for_a_resync(connect, celery_worker, alice, bob):
    bob_socket = connect(bob)
    before = alice.send(bob, "before")
    assert bob_socket.expect("message")["message"]["msg_id"] == before["msg_id"]

    # This run's keys in the data and channel-layer databases, as a restart loses them.
    clear_redis([settings.CHAT_REDIS_URL, settings.CHAT_CHANNEL_LAYER_URL])
    assert bob_socket.expect("resync") == {"type": "resync"}
    assert alice.get(f"users/{bob.id}").json()["online"] is True
    after = alice.send(bob, "after")
    assert bob_socket.expect("message")["message"]["msg_id"] == after["msg_id"]


def test_watchers_keep_hearing_after_a_redis_loss(connect, alice, bob):
    watcher = connect(alice)
    watch(watcher, bob.id)
    watcher.expect("presence", online=False)
    clear_redis([settings.CHAT_REDIS_URL, settings.CHAT_CHANNEL_LAYER_URL])
    watcher.expect("resync")
    connect(bob)
    watcher.expect("presence", online=True)


PROFILE_11 = {"is_active", "last_seen"}


def test_every_profile_carries_is_active_and_last_seen(connect, celery_worker, alice, bob):
    connect(bob).close()
    wait_for(lambda: alice.get(f"users/{bob.id}").json()["last_seen"])
    connect(alice)  # online: last_seen is null
    sent = alice.send(bob, "hi")

    me = alice.get("me").json()
    assert me["is_active"] is True and me["last_seen"] is None and me["online"] is True
    seen = alice.get(f"users/{bob.id}").json()
    assert seen["is_active"] is True and is_iso_time(seen["last_seen"]) and seen["online"] is False
    assert bob.get("me").json()["last_seen"] == seen["last_seen"]
    found = alice.get("users", {"q": "bob"}).json()["results"]
    assert [p["last_seen"] for p in found] == [seen["last_seen"]] and found[0]["is_active"] is True
    peer = alice.get("conversations").json()["results"][0]["peer"]
    assert peer["last_seen"] == seen["last_seen"] and peer["is_active"] is True
    peer = bob.get(f"conversations/{sent['conversation_id']}").json()["peer"]
    assert peer["is_active"] is True and peer["last_seen"] is None
    sender = bob.get("offline").json()["results"][0]["sender"]
    assert PROFILE_11 <= set(sender) and sender["is_active"] is True

    bob_socket = connect(bob)
    alice.send(bob, "live")
    pushed = bob_socket.expect("message")
    assert pushed["sender"]["user_id"] == alice.id and PROFILE_11 <= set(pushed["sender"])
    assert pushed["sender"]["is_active"] is True and pushed["sender"]["last_seen"] is None


def test_a_push_the_channel_layer_dropped_makes_the_socket_ask_for_a_resync(connect, celery_worker, alice, bob):
    from messaging import store as messaging_store

    bob_socket = connect(bob)
    first = alice.send(bob, "pushed")
    assert bob_socket.expect("message")["message"]["msg_id"] == first["msg_id"]
    bob_socket.drain(2.5)  # a few quiet heartbeats: nothing was missed
    assert not [f for f in bob_socket.drain(0.1) if f["type"] == "resync"]

    # A fan-out event numbered for bob that never reaches his socket (a full channel-layer queue).
    messaging_store.next_push_seqs([bob.id])
    assert bob_socket.expect("resync", timeout=10) == {"type": "resync"}
    second = alice.send(bob, "still pushed")
    assert bob_socket.expect("message")["message"]["msg_id"] == second["msg_id"]


def test_a_change_the_channel_layer_dropped_makes_the_socket_ask_for_a_resync(
    connect, celery_worker, alice, bob, monkeypatch
):
    """``changed`` events are numbered like the fan-out's: one lost is noticed, and sync brings the change."""
    from chat_project.common import push

    bob_socket = connect(bob)
    sent = alice.send(bob, "first words")
    assert bob_socket.expect("message")["message"]["msg_id"] == sent["msg_id"]
    bob_socket.drain(2.5)  # a few quiet heartbeats: nothing was missed
    assert not [f for f in bob_socket.drain(0.1) if f["type"] == "resync"]

    # The layer loses every event for bob's sockets (subscriptions gone with a Redis restart).
    send_all = push._send_all

    async def lose_bobs(layer, outs):
        await send_all(layer, [out for out in outs if out.group != push.user_group(bob.id)])

    monkeypatch.setattr(push, "_send_all", lose_bobs)
    assert alice.patch(f"messages/{sent['msg_id']}", {"content": "second words"}).status_code == 200
    assert bob_socket.expect("resync", timeout=10) == {"type": "resync"}
    assert not [f for f in bob_socket.backlog if f["type"] == "changed"]
    synced = bob.get("sync", {"since": sent["msg_id"]}).json()["results"]
    assert [(m["msg_id"], m["content"]) for m in synced] == [(sent["msg_id"], "second words")]
