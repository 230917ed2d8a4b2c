"""The WebSocket connection layer against hostile or careless clients, over a real daphne.

Malformed, oversized and deeply nested frames, ids past 2^53, frame floods:
each gets an ``error`` frame and the socket stays open (a ``ping`` after it
still gets ``pong``). Also who a socket belongs to (token or session).
"""

import pytest

from .conftest import PASSWORD

pytestmark = pytest.mark.e2e

MAX_SAFE = 2**53 - 1


def ready(sock, user):
    assert sock.expect("ready")["user_id"] == user.id
    return sock


def still_open(sock) -> None:
    sock.send({"type": "ping"})
    assert sock.expect("pong") == {"type": "pong"}


def refused(sock, raw, code: str) -> dict:
    sock.send(raw)
    error = sock.expect("error")
    assert error["code"] == code, error
    assert error["detail"]
    still_open(sock)
    return error


# --- malformed and oversized frames ---------------------------------------------


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "raw",
    [
        nested_array(30_000),
        '{"type": "send", "to": ' + nested_object(10_000) + ', "content": "x"}',
        '{"type": "ping", "extra": ' + nested_array(20_000) + "}",
        '{"type": "watch", "user_ids": ' + nested_array(25_000) + "}",
    ],
    ids=["array", "send-to-object", "ping-extra", "watch-ids"],
)
def test_deeply_nested_json_within_the_size_limit_is_an_invalid_frame(connect, alice, raw):
    sock = ready(connect(alice), alice)
    assert len(raw.encode()) <= 65536
    refused(sock, raw, "invalid_frame")


def test_moderately_nested_values_are_validation_errors(connect, alice):
    sock = ready(connect(alice), alice)
    refused(sock, '{"type": "send", "to": ' + nested_object(500) + ', "content": "x"}', "validation_error")
    refused(sock, '{"type": "read", "conversation_id": ' + nested_array(500) + "}", "validation_error")


@pytest.mark.parametrize("size", [100_000, 1_500_000, 5_000_000], ids=["100k", "1.5M", "5M"])
def test_oversized_frames_are_refused_and_the_socket_stays_open(connect, alice, size):
    sock = ready(connect(alice), alice)
    # 100k deep nesting is also far too large: refused before it is parsed.
    error = refused(sock, nested_array(size // 2), "validation_error")
    assert error["errors"]
    refused(sock, '{"type": "ping", "padding": "' + "y" * size + '"}', "validation_error")


def test_the_frame_limit_counts_utf8_bytes_not_characters(connect, alice):
    sock = ready(connect(alice), alice)
    # 20,000 characters, 80,000 bytes.
    refused(sock, '{"type": "ping", "padding": "' + "😀" * 20_000 + '"}', "validation_error")
    # Just under the limit in bytes is an ordinary frame.
    sock.send('{"type": "ping", "padding": "' + "é" * 30_000 + '"}')
    assert sock.expect("pong") == {"type": "pong"}


# --- ids are below 2^53 -----------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "read", "conversation_id": MAX_SAFE + 1},
        {"type": "read", "conversation_id": 1, "up_to": MAX_SAFE + 1},
        {"type": "read", "conversation_id": 2**63 - 1},
        {"type": "typing", "conversation_id": MAX_SAFE + 1},
        {"type": "send", "to": MAX_SAFE + 1, "content": "x", "client_msg_id": "big"},
        {"type": "send", "to": 10**30, "content": "x", "client_msg_id": "huge"},
        {"type": "watch", "user_ids": [MAX_SAFE + 1]},
    ],
    ids=["read", "read-up-to", "read-2^63", "typing", "send", "send-10^30", "watch"],
)
def test_ids_past_2_to_the_53_are_validation_errors(connect, alice, frame):
    sock = ready(connect(alice), alice)
    refused(sock, frame, "validation_error")


def test_the_largest_safe_id_is_valid_and_simply_not_found(connect, alice):
    sock = ready(connect(alice), alice)
    refused(sock, {"type": "read", "conversation_id": MAX_SAFE}, "not_found")
    refused(sock, {"type": "typing", "conversation_id": MAX_SAFE}, "not_found")


@pytest.mark.parametrize(
    "path, field",
    [
        (f"sync?since={2**53}", "since"),
        (f"conversations?before={2**53}", "before"),
    ],
)
def test_rest_cursors_past_2_to_the_53_are_validation_errors(alice, path, field):
    response = alice.client.get("/api/v1/" + path)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and field in body["errors"]


# --- frame rate -------------------------------------------------------------------


@pytest.fixture
def limited_daphne(start_daphne):
    # A window of ~41 days: the count cannot roll over during the test.
    return start_daphne(CHAT_RATE_LIMITS="on", CHAT_FRAME_RATE="6/1000h")


def test_every_non_send_frame_counts_per_user_across_sockets(connect, limited_daphne, alice, bob):
    first = ready(connect(alice, limited_daphne), alice)
    second = ready(connect(alice, limited_daphne), alice)
    first.send({"type": "ping"})
    first.expect("pong")
    second.send({"type": "ping"})
    second.expect("pong")
    # Typing into a conversation that does not exist, an invalid read, junk: all counted.
    second.send({"type": "typing", "conversation_id": 987654321})
    assert second.expect("error")["code"] == "not_found"
    first.send({"type": "read", "conversation_id": "x"})
    assert first.expect("error")["code"] == "validation_error"
    second.send("not json")
    assert second.expect("error")["code"] == "invalid_frame"
    first.send({"type": "watch", "user_ids": []})
    # The seventh non-send frame, on either socket, is refused; the sockets stay open.
    for sock in (first, second):
        sock.send({"type": "ping"})
        error = sock.expect("error")
        assert error["code"] == "rate_limited" and error["detail"]
        sock.send({"type": "typing", "conversation_id": 1})
        assert sock.expect("error")["code"] == "rate_limited"
    # Sends have their own limit: still accepted.
    first.send({"type": "send", "to": bob.id, "content": "still here", "client_msg_id": "after-flood"})
    assert first.expect("ack", client_msg_id="after-flood")["message"]["content"] == "still here"
    # Other users are not affected.
    bob_socket = ready(connect(bob, limited_daphne), bob)
    still_open(bob_socket)


def test_rate_limits_off_lets_every_frame_through(connect, alice):
    # The session's daphne runs with CHAT_RATE_LIMITS=off (settings_test.py).
    sock = ready(connect(alice), alice)
    for _ in range(80):
        sock.send({"type": "ping"})
    frames = [sock.expect("pong") for _ in range(80)]
    assert len(frames) == 80


# --- who the socket belongs to ------------------------------------------------------


def session_cookie(user) -> str:
    from django.test import Client

    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    return "sessionid=" + browser.cookies["sessionid"].value


def test_a_token_wins_over_a_session_cookie_and_needs_no_origin(connect, alice, bob):
    # Bob's browser cookie from a foreign page, but Alice's token: Alice's socket.
    sock = connect(alice, headers={"Cookie": session_cookie(bob), "Origin": "http://evil.example"})
    assert sock.expect("ready")["user_id"] == alice.id


def test_a_wrong_token_is_refused_even_with_a_good_session(connect, daphne, alice):
    headers = {"Cookie": session_cookie(alice), "Origin": f"http://{daphne.address}"}
    assert connect(query="token=not-a-real-token", headers=headers).close_code() == 4401


def test_a_token_of_a_deactivated_user_is_refused(connect, alice):
    from profiles.models import User

    user = User.objects.get(pk=alice.id)
    user.is_active = False
    user.save()
    assert connect(alice).close_code() == 4401
