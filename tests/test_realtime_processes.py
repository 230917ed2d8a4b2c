"""End to end across processes: two daphnes sharing the channel layer, a
daphne that dies without closing its sockets, limits shared by REST and
WebSocket."""

import pytest

from chat_project.common.redis_client import get_redis
from profiles.store import sockets_key

from .conftest import wait_for

pytestmark = pytest.mark.e2e


def test_message_crosses_two_daphne_processes(start_daphne, celery_worker, alice, bob):
    first, second = start_daphne(), start_daphne()
    alice_socket = first.socket(alice.token)
    bob_socket = second.socket(bob.token)
    try:
        alice_socket.expect("ready")
        bob_socket.expect("ready")
        alice_socket.send({"type": "send", "to": bob.id, "content": "across", "client_msg_id": "x-1"})
        message = alice_socket.expect("ack")["message"]
        assert bob_socket.expect("message")["message"] == message
        bob_socket.send({"type": "typing", "conversation_id": message["conversation_id"]})
        assert alice_socket.expect("typing")["user_id"] == bob.id
    finally:
        alice_socket.close()
        bob_socket.close()


def test_users_of_a_killed_process_go_offline_within_the_ttl(start_daphne, alice, bob):
    server = start_daphne(CHAT_ONLINE_TTL_SECONDS="2")
    bob_socket = server.socket(bob.token)
    bob_socket.expect("ready")
    assert alice.get(f"users/{bob.id}").json()["online"] is True
    server.kill()
    # Nobody closed the socket: only the time-to-live can end the presence.
    assert get_redis().zcard(sockets_key(bob.id)) == 1
    wait_for(lambda: alice.get(f"users/{bob.id}").json()["online"] is False, timeout=5)


def test_send_rate_is_shared_by_rest_and_websocket(start_daphne, settings, alice, bob):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_SEND_RATE = (3, 60)
    server = start_daphne(CHAT_RATE_LIMITS="on", CHAT_SEND_RATE="3/60s")
    sock = server.socket(alice.token)
    try:
        sock.expect("ready")
        alice.send(bob, "rest 1")
        alice.send(bob, "rest 2")
        sock.send({"type": "send", "to": bob.id, "content": "ws 3", "client_msg_id": "r-3"})
        sock.expect("ack", client_msg_id="r-3")
        sock.send({"type": "send", "to": bob.id, "content": "ws 4", "client_msg_id": "r-4"})
        error = sock.expect("error", client_msg_id="r-4")
        assert error["code"] == "rate_limited"
        response = alice.post("messages", {"to": bob.id, "content": "rest 5"})
        assert response.status_code == 429
        assert response.json()["code"] == "rate_limited"
        assert int(response["Retry-After"]) >= 1
        # The socket is still open after the refusal.
        sock.send({"type": "ping"})
        sock.expect("pong")
    finally:
        sock.close()
