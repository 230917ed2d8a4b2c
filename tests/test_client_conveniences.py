"""PROTOCOL.md 1.2 "Client conveniences", over a real daphne and the REST API.

A frame's ``ref`` comes back on the ``ack`` or ``error`` that answers it;
``rate_limited`` and ``unavailable`` error frames say how long to wait; and
``GET sync/position`` gives a new device a cursor that misses nothing.
"""

import MySQLdb
import pytest
from django.conf import settings

from messaging.models import MessageRecord

from .helpers import history_ids

pytestmark = pytest.mark.e2e


def ready(sock, user):
    assert sock.expect("ready")["user_id"] == user.id
    return sock


# --- ref ---------------------------------------------------------------------------


def test_the_ack_of_a_send_carries_its_ref(connect, alice, bob):
    sock = ready(connect(alice), alice)
    sock.send({"type": "send", "to": bob.id, "content": "tagged", "client_msg_id": "c-ref", "ref": "r1"})
    ack = sock.expect("ack", client_msg_id="c-ref")
    assert ack["ref"] == "r1"
    assert ack["message"]["content"] == "tagged"


def test_an_error_on_a_read_typing_or_watch_frame_carries_its_ref(connect, alice, bob):
    sock = ready(connect(alice), alice)
    # Three refused frames in a row: each error names the frame it answers.
    sock.send({"type": "read", "conversation_id": 987654321, "ref": "read-1"})
    sock.send({"type": "typing", "conversation_id": "x", "ref": "typing-1"})
    sock.send({"type": "watch", "user_ids": "everyone", "ref": "watch-1"})
    errors = [sock.expect("error") for _ in range(3)]
    assert [(e["ref"], e["code"]) for e in errors] == [
        ("read-1", "not_found"),
        ("typing-1", "validation_error"),
        ("watch-1", "validation_error"),
    ]
    # A send's error carries both its client_msg_id and its ref.
    sock.send({"type": "send", "to": alice.id, "content": "me", "client_msg_id": "self", "ref": "send-1"})
    error = sock.expect("error", client_msg_id="self")
    assert error["ref"] == "send-1" and error["code"] == "validation_error"


def test_a_ping_is_answered_with_its_ref_and_untagged_frames_get_none(connect, alice):
    sock = ready(connect(alice), alice)
    sock.send({"type": "ping", "ref": "p-1"})
    assert sock.expect("pong") == {"type": "pong", "ref": "p-1"}
    sock.send({"type": "ping"})
    assert sock.expect("pong") == {"type": "pong"}
    sock.send({"type": "read", "conversation_id": 987654321})
    assert "ref" not in sock.expect("error")


@pytest.mark.parametrize("ref", ["", "x" * 65, 7, ["a"], "bad\u0000ref", "\ud800"], ids=repr)
def test_a_malformed_ref_is_a_validation_error_and_the_frame_is_not_carried_out(connect, alice, bob, ref):
    sock = ready(connect(alice), alice)
    sock.send({"type": "send", "to": bob.id, "content": "not sent", "client_msg_id": "bad-ref", "ref": ref})
    error = sock.expect("error", client_msg_id="bad-ref")
    assert error["code"] == "validation_error"
    assert list(error["errors"]) == ["ref"]
    assert "ref" not in error
    assert not MessageRecord.objects.filter(client_msg_id="bad-ref").exists()
    sock.send({"type": "ping", "ref": "still-open"})
    assert sock.expect("pong")["ref"] == "still-open"


# --- retry_after -------------------------------------------------------------------


def test_a_rate_limited_frame_says_how_long_to_wait(connect, start_daphne, alice, bob):
    server = start_daphne(CHAT_RATE_LIMITS="on", CHAT_SEND_RATE="1/1000h", CHAT_FRAME_RATE="1/1000h")
    sock = ready(connect(alice, server), alice)
    sock.send({"type": "send", "to": bob.id, "content": "first", "client_msg_id": "rl-1"})
    sock.expect("ack", client_msg_id="rl-1")
    sock.send({"type": "send", "to": bob.id, "content": "second", "client_msg_id": "rl-2", "ref": "s2"})
    refused = sock.expect("error", client_msg_id="rl-2")
    assert refused["code"] == "rate_limited" and refused["ref"] == "s2"
    # The window is ~41 days long: the wait is what is left of it, in seconds.
    assert isinstance(refused["retry_after"], int) and 1 <= refused["retry_after"] <= 1000 * 3600 + 1
    sock.send({"type": "ping"})
    sock.expect("pong")
    sock.send({"type": "ping"})
    assert sock.expect("error")["retry_after"] >= 1


def test_an_unavailable_frame_says_how_long_to_wait(connect, alice, bob):
    conversation_id = alice.send(bob, "read me")["conversation_id"]
    sock = ready(connect(bob), bob)
    db = settings.DATABASES["default"]
    blocker = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"], db=db["TEST"]["NAME"]
    )
    try:
        cursor = blocker.cursor()
        cursor.execute("START TRANSACTION")
        # Every unread counter row locked: the read waits out the server's lock
        # wait timeout (5 s) and is answered unavailable, never server_error.
        cursor.execute("SELECT * FROM t_unread_counter FOR UPDATE")
        sock.send({"type": "read", "conversation_id": conversation_id, "ref": "slow-read"})
        error = sock.expect("error", timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    assert error["code"] == "unavailable" and error["ref"] == "slow-read"
    assert isinstance(error["retry_after"], int) and error["retry_after"] >= 1
    sock.send({"type": "read", "conversation_id": 987654321})
    assert "retry_after" not in sock.expect("error")  # not_found: nothing to wait for


# --- sync/position -----------------------------------------------------------------


def test_sync_position_of_a_new_user_is_zero(alice):
    response = alice.get("sync/position")
    assert response.status_code == 200
    assert response.json() == {"position": 0}


def test_a_new_device_starts_from_the_position_and_misses_nothing(alice, bob, carol):
    old = [alice.send(bob, f"old {n}")["msg_id"] for n in range(3)]
    position = bob.get("sync/position").json()["position"]
    assert position == old[-1]
    # Between taking the position and loading the history, more arrives.
    newer = [alice.send(bob, "while loading")["msg_id"], bob.send(carol, "sent meanwhile")["msg_id"]]
    conversation_id = alice.send(bob, "last")["conversation_id"]
    newer.append(history_ids(bob, conversation_id)[-1])
    synced = bob.get("sync", {"since": position}).json()
    assert [m["msg_id"] for m in synced["results"]] == sorted(newer)
    assert synced["has_more"] is False
    # Nothing older than the position comes again: the history pages hold it.
    assert all(m["msg_id"] > position for m in synced["results"])
    # Positions are per user: carol's newest message is bob's to her.
    assert carol.get("sync/position").json()["position"] == newer[1]


def test_sync_position_needs_credentials(anonymous):
    response = anonymous.get("/api/v1/sync/position")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_send_whose_client_msg_id_is_a_lone_surrogate_is_answered_and_the_socket_stays_open(connect, alice, bob):
    """The error echoes the id the client sent; a lone surrogate is written escaped, as the client sent it."""
    sock = ready(connect(alice), alice)
    sock.send({"type": "send", "to": bob.id, "content": "half", "client_msg_id": "half-\ud800"})
    error = sock.expect("error")
    assert error["code"] == "validation_error" and "client_msg_id" in error["errors"]
    assert error["client_msg_id"] == "half-\ud800"
    sock.send({"type": "ping", "ref": "still-open"})
    assert sock.expect("pong")["ref"] == "still-open"
