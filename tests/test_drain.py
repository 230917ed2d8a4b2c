"""Draining a host: `manage.py drain_sockets` closes the sockets of this host's daphnes, in batches, with 1012.

Two daphnes of host ``drain-a`` and one of ``drain-b`` (CHAT_NODE_NAME) share
the channel layer, as the hosts of a cluster do.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chat_project.common.limits import CLOSE_SERVICE_RESTART

from .live import ROOT

pytestmark = pytest.mark.e2e

PER_PROCESS = 5


def drain_sockets(node: str, *args: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chat_project.settings_test", "CHAT_NODE_NAME": node}
    done = subprocess.run(
        [sys.executable, "manage.py", "drain_sockets", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class CloseWatch:
    """Waits for every socket to be closed by the server, all at once, from before the drain: (code, when)."""

    def __init__(self, sockets) -> None:
        self.sockets = sockets
        self.closes: list = [None] * len(sockets)
        self.threads = [threading.Thread(target=self._wait, args=(i,)) for i in range(len(sockets))]
        for thread in self.threads:
            thread.start()

    def _wait(self, index: int) -> None:
        code = self.sockets[index].close_code(timeout=30)
        self.closes[index] = (code, time.monotonic())

    def result(self) -> list[tuple[int | None, float]]:
        for thread in self.threads:
            thread.join(40)
        return self.closes


def test_drain_closes_this_hosts_sockets_in_batches_with_1012_and_no_other_hosts(start_daphne, make_user):
    users = [make_user(f"drain{n}") for n in range(2 * PER_PROCESS + 2)]
    a1, a2 = start_daphne(CHAT_NODE_NAME="drain-a"), start_daphne(CHAT_NODE_NAME="drain-a")
    b = start_daphne(CHAT_NODE_NAME="drain-b")
    on_a1 = [a1.socket(u.token) for u in users[:PER_PROCESS]]
    on_a2 = [a2.socket(u.token) for u in users[PER_PROCESS : 2 * PER_PROCESS]]
    on_b = [b.socket(u.token) for u in users[2 * PER_PROCESS :]]
    for sock in on_a1 + on_a2 + on_b:
        sock.expect("ready")

    watches = [CloseWatch(on_a1), CloseWatch(on_a2)]
    started = time.monotonic()
    assert "drain-a" in drain_sockets("drain-a", "--batch", "2", "--interval", "1")
    for watch in watches:
        closes = watch.result()
        assert [code for code, _ in closes] == [CLOSE_SERVICE_RESTART] * PER_PROCESS
        times = sorted(when - started for _, when in closes)
        # 5 sockets, 2 a batch, one batch a second: three batches, spread over two seconds or more.
        assert times[-1] - times[0] >= 1.5, times
        assert times[-1] < 20, times

    # Another host's sockets stay open and working.
    for sock in on_b:
        sock.send({"type": "ping"})
        sock.expect("pong")
    # A socket that reaches a draining daphne is sent on its way at once.
    late = a1.socket(users[0].token)
    assert late.close_code(timeout=10) == CLOSE_SERVICE_RESTART

    # Cancelled: the host takes sockets again.
    drain_sockets("drain-a", "--cancel")
    time.sleep(0.5)
    again = a1.socket(users[0].token)
    again.expect("ready")
    for sock in [*on_b, again]:
        sock.close()


@pytest.mark.timeout(90)
def test_a_stopping_daphne_closes_its_sockets_with_1012_and_its_users_go_offline(start_daphne, make_user):
    """SIGTERM (supervisord stopping or restarting it, `make run`'s Ctrl-C): clients are told "service restart"
    (docs/websocket.md) instead of losing the connection (1006), and the sockets' presence is cleaned up."""
    server = start_daphne()
    users = [make_user(f"stopping{i}") for i in range(3)]
    sockets = [server.socket(u.token) for u in users]
    for sock in sockets:
        sock.expect("ready")
    assert all(users[0].get(f"users/{u.id}").json()["online"] for u in users)
    watch = CloseWatch(sockets)
    server.proc.terminate()
    assert [code for code, _ in watch.result()] == [CLOSE_SERVICE_RESTART] * len(sockets)
    assert server.proc.wait(15) == 0
    assert not any(users[0].get(f"users/{u.id}").json()["online"] for u in users)


@pytest.mark.parametrize("layer", ["pubsub", "core"])
def test_a_stopping_daphne_unregisters_its_sockets_at_once_and_watchers_elsewhere_hear_each_user_once(
    start_daphne, make_user, layer
):
    """The stopping process unregisters all its sockets' presence in one go (messaging/heartbeat.py), not one
    disconnect at a time: a watcher on another process hears each user go offline once, with the last_seen
    that the user's profile then shows, even for a user who had two sockets there. With either channel layer
    (pub/sub: the stopping process leaves no group one by one; core: it does)."""
    stopping = start_daphne(CHAT_CHANNEL_LAYER_BACKEND=layer)
    staying = start_daphne(CHAT_CHANNEL_LAYER_BACKEND=layer)
    users = [make_user(f"leaving{i}") for i in range(12)]
    sockets = [stopping.socket(u.token) for u in users] + [stopping.socket(users[0].token)]
    for sock in sockets:
        sock.expect("ready")
    watcher_user = make_user("watcher")
    watcher = staying.socket(watcher_user.token)
    watcher.expect("ready")
    watcher.send({"type": "watch", "user_ids": [u.id for u in users]})
    for user in users:
        watcher.expect("presence", user_id=user.id, online=True)
    watch = CloseWatch(sockets)
    stopping.proc.terminate()
    assert [code for code, _ in watch.result()] == [CLOSE_SERVICE_RESTART] * len(sockets)
    assert stopping.proc.wait(15) == 0
    frames = watcher.drain(1.0)
    offline = {f["user_id"]: f["last_seen"] for f in frames if f["type"] == "presence" and not f["online"]}
    assert sorted(f["user_id"] for f in frames if f["type"] == "presence") == sorted(u.id for u in users)
    for user in users:
        profile = watcher_user.get(f"users/{user.id}").json()
        assert not profile["online"]
        assert profile["last_seen"] is not None and profile["last_seen"] == offline[user.id]
    stopping.log.flush()
    log = Path(stopping.log.name).read_text()
    assert f"stopping: {len(sockets)} socket(s) unregistered at once, {len(users)} user(s) offline" in log


@pytest.mark.timeout(60)
def test_a_client_that_never_answers_the_close_does_not_hold_the_stop(start_daphne, make_user):
    """Its closing handshake times out (autobahn's, 1 s) within the grace (CHAT_SHUTDOWN_CLOSE_MS, which also
    bounds slow disconnects): the process ends on its own, well before supervisord's stopwaitsecs would kill it.
    Meanwhile new connections are refused rather than accepted and dropped."""
    import base64
    import secrets
    import socket

    server = start_daphne()
    user = make_user("silent")
    host, port = server.address.rsplit(":", 1)
    silent = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    silent.sendall(
        f"GET /ws/chat/?token={user.token} HTTP/1.1\r\nHost: {server.address}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += silent.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    time.sleep(1)  # its consumer is open (the "ready" frame waits, unread, in the kernel's buffers)
    refused_while_held = False
    silent.setblocking(False)
    try:
        server.proc.terminate()
        # While it waits for that close (the silent connection still open), it no longer listens: a new
        # client is refused at once, not accepted only to be dropped when the process exits.
        while server.proc.poll() is None:
            try:
                while silent.recv(65536):  # the 1012 close frame, unanswered; b"" once the server drops it
                    pass
                break  # dropped: the wait for its handshake is over
            except BlockingIOError:
                pass
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
            except ConnectionRefusedError:
                refused_while_held = True
                break
            time.sleep(0.02)
        assert server.proc.wait(8) == 0
    finally:
        silent.close()
    assert refused_while_held
