"""End to end over WebSocket: a real daphne, a real Celery worker, real clients."""

import time

import pytest

from profiles.models import User

from .conftest import wait_for

pytestmark = pytest.mark.e2e


def ready(sock, user):
    assert sock.expect("ready")["user_id"] == user.id
    return sock


@pytest.mark.parametrize("query", ["", "token=", "token=not-a-real-token", "token=" + "x" * 500])
def test_unauthenticated_socket_is_closed_with_4401(connect, transactional_db, query):
    sock = connect(query=query)
    assert sock.close_code() == 4401


def test_deactivated_user_is_closed_with_4401(connect, alice):
    User.objects.filter(pk=alice.id).update(is_active=False)
    assert connect(alice).close_code() == 4401


def test_ready_then_online_until_the_last_socket_closes(connect, alice, bob):
    first = ready(connect(bob), bob)
    second = ready(connect(bob), bob)
    assert alice.get(f"users/{bob.id}").json()["online"] is True
    first.close()
    time.sleep(0.3)
    assert alice.get(f"users/{bob.id}").json()["online"] is True
    second.close()
    wait_for(lambda: alice.get(f"users/{bob.id}").json()["online"] is False, timeout=5)


def test_online_delivery_reaches_every_socket_of_both_users(connect, celery_worker, alice, bob):
    alice_1, alice_2 = ready(connect(alice), alice), ready(connect(alice), alice)
    bob_1, bob_2 = ready(connect(bob), bob), ready(connect(bob), bob)

    alice_1.send({"type": "send", "to": bob.id, "content": "hi 👋", "client_msg_id": "c-1"})
    ack = alice_1.expect("ack", client_msg_id="c-1")
    message = ack["message"]
    assert message["content"] == "hi 👋" and message["sender_id"] == alice.id and message["status"] == "normal"

    for sock in (alice_1, alice_2, bob_1, bob_2):
        pushed = sock.expect("message")
        assert pushed["message"] == message
    for sock in (bob_1, bob_2):
        unread = sock.expect("unread")
        assert unread == {
            "type": "unread",
            "conversation_id": message["conversation_id"],
            "unread": 1,
            "total": 1,
        }
    # Delivered live: nothing waits in the offline list.
    assert bob.get("offline").json() == {"results": []}


def test_offline_message_is_pulled_and_acked(connect, celery_worker, alice, bob):
    alice_socket = ready(connect(alice), alice)
    alice_socket.send({"type": "send", "to": bob.id, "content": "while you were away", "client_msg_id": "o-1"})
    message = alice_socket.expect("ack")["message"]

    groups = bob.get("offline").json()["results"]
    assert [g["sender"]["user_id"] for g in groups] == [alice.id]
    assert [m["msg_id"] for m in groups[0]["messages"]] == [message["msg_id"]]

    assert bob.post("offline/ack", {"sender_id": alice.id, "up_to": message["msg_id"]}).status_code == 204
    assert bob.get("offline").json() == {"results": []}


def test_read_over_socket_sends_unread_to_reader_and_receipt_to_peer(connect, celery_worker, alice, bob):
    alice_socket = ready(connect(alice), alice)
    bob_1, bob_2 = ready(connect(bob), bob), ready(connect(bob), bob)
    first = alice.send(bob, "one")
    second = alice.send(bob, "two")
    bob_1.expect("unread", unread=2)

    bob_1.send({"type": "read", "conversation_id": first["conversation_id"], "up_to": first["msg_id"]})
    for sock in (bob_1, bob_2):
        assert sock.expect("unread", unread=1)["total"] == 1
    receipt = alice_socket.expect("read")
    assert receipt == {
        "type": "read",
        "conversation_id": first["conversation_id"],
        "reader_id": bob.id,
        "up_to": first["msg_id"],
    }

    # Without up_to: everything, and the receipt names the newest message.
    bob_2.send({"type": "read", "conversation_id": first["conversation_id"]})
    assert alice_socket.expect("read")["up_to"] == second["msg_id"]
    bob_1.expect("unread", unread=0, total=0)
    assert bob.get("unread").json() == {"total": 0, "conversations": {}}


def test_read_over_rest_also_pushes(connect, celery_worker, alice, bob):
    alice_socket = ready(connect(alice), alice)
    bob_socket = ready(connect(bob), bob)
    sent = alice.send(bob, "hello")
    bob_socket.expect("unread", unread=1)
    assert bob.post(f"conversations/{sent['conversation_id']}/read").json()["unread"] == 0
    bob_socket.expect("unread", unread=0)
    assert alice_socket.expect("read")["up_to"] == sent["msg_id"]


def test_typing_is_forwarded_to_the_peer_only(connect, alice, bob, carol):
    conversation_id = alice.send(bob, "hi")["conversation_id"]
    alice_socket = ready(connect(alice), alice)
    bob_socket = ready(connect(bob), bob)
    carol_socket = ready(connect(carol), carol)
    alice_socket.send({"type": "typing", "conversation_id": conversation_id})
    assert bob_socket.expect("typing") == {"type": "typing", "conversation_id": conversation_id, "user_id": alice.id}
    assert not [f for f in carol_socket.drain(0.5) if f["type"] == "typing"]
    # Typing into someone else's conversation is not_found.
    carol_socket.send({"type": "typing", "conversation_id": conversation_id})
    assert carol_socket.expect("error")["code"] == "not_found"


def test_recall_reaches_both_users_and_fixes_unread(connect, celery_worker, alice, bob):
    alice_socket = ready(connect(alice), alice)
    bob_socket = ready(connect(bob), bob)
    sent = alice.send(bob, "oops")
    bob_socket.expect("unread", unread=1)

    assert alice.delete(f"messages/{sent['msg_id']}").status_code == 204
    frame = {
        "type": "recalled",
        "conversation_id": sent["conversation_id"],
        "msg_id": sent["msg_id"],
        "recalled_by": "sender",  # an extension of the frame (PROTOCOL.md 1.1)
    }
    assert alice_socket.expect("recalled") == frame
    assert bob_socket.expect("recalled") == frame
    bob_socket.expect("unread", unread=0, total=0)
    history = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert history[-1]["status"] == "recalled" and history[-1]["content"] == ""


def test_resend_of_same_client_msg_id_is_acked_again_and_delivered_once(connect, celery_worker, alice, bob):
    alice_socket = ready(connect(alice), alice)
    bob_socket = ready(connect(bob), bob)
    frame = {"type": "send", "to": bob.id, "content": "once", "client_msg_id": "same-id"}
    alice_socket.send(frame)
    first = alice_socket.expect("ack")["message"]
    alice_socket.send(frame)
    second = alice_socket.expect("ack")["message"]
    assert first == second

    bob_socket.expect("message")
    time.sleep(1.0)
    frames = bob_socket.drain(0.5)
    assert not [f for f in frames if f["type"] == "message"]
    assert bob.get("unread").json()["total"] == 1
    history = bob.get(f"conversations/{first['conversation_id']}/messages").json()["results"]
    assert [m["msg_id"] for m in history] == [first["msg_id"]]


def test_reconnect_then_sync_returns_exactly_the_missed_messages(connect, celery_worker, alice, bob):
    bob_socket = ready(connect(bob), bob)
    seen = alice.send(bob, "seen live")
    assert bob_socket.expect("message")["message"]["msg_id"] == seen["msg_id"]
    bob_socket.close()

    missed = [alice.send(bob, f"missed {i}")["msg_id"] for i in range(3)]
    ready(connect(bob), bob)
    page = bob.get("sync", {"since": seen["msg_id"]}).json()
    assert [m["msg_id"] for m in page["results"]] == missed
    assert page["has_more"] is False


MALFORMED = [
    ("not json", "invalid_frame"),
    ("[1, 2]", "invalid_frame"),
    ('"send"', "invalid_frame"),
    ("{}", "invalid_frame"),
    ('{"type": "dance"}', "invalid_frame"),
    ('{"type": 7}', "invalid_frame"),
    ('{"type": ["send"]}', "invalid_frame"),
    ('{"type": {"a": 1}}', "invalid_frame"),
    ('{"type": "send", "to": "2", "content": "x"}', "validation_error"),
    ('{"type": "send", "to": 2.5, "content": "x"}', "validation_error"),
    ('{"type": "send", "to": true, "content": "x"}', "validation_error"),
    ('{"type": "send", "content": "x"}', "validation_error"),
    ('{"type": "send", "to": 2, "content": 5}', "validation_error"),
    ('{"type": "send", "to": 2, "content": "   "}', "validation_error"),
    ('{"type": "send", "to": 2, "content": "a\\u0000b"}', "validation_error"),
    ('{"type": "send", "to": 2, "content": "\\ud800"}', "validation_error"),
    ('{"type": "send", "to": 2, "content": "x", "client_msg_id": 12}', "validation_error"),
    ('{"type": "read"}', "validation_error"),
    ('{"type": "read", "conversation_id": "1"}', "validation_error"),
    ('{"type": "read", "conversation_id": 1, "up_to": -5}', "validation_error"),
    ('{"type": "read", "conversation_id": 999999}', "not_found"),
    ('{"type": "typing", "conversation_id": null}', "validation_error"),
]


def test_malformed_frames_get_error_frames_and_the_socket_stays_open(connect, alice, bob):
    sock = ready(connect(alice), alice)
    for raw, code in MALFORMED:
        sock.send(raw.replace('"to": 2', f'"to": {bob.id}'))
        error = sock.expect("error")
        assert error["code"] == code, (raw, error)
        assert error["detail"]
    sock.send({"type": "send", "to": bob.id, "content": "x" * 4001, "client_msg_id": "too-long"})
    assert sock.expect("error", client_msg_id="too-long")["code"] == "validation_error"
    sock.send({"type": "send", "to": bob.id, "content": "x", "padding": "y" * 70000})
    assert sock.expect("error")["code"] == "validation_error"
    sock.send(b"\x00\x01binary")
    assert sock.expect("error")["code"] == "invalid_frame"
    sock.send({"type": "ping"})
    assert sock.expect("pong") == {"type": "pong"}


def test_idle_socket_outlives_redis_socket_timeouts(connect, celery_worker, alice, bob):
    bob_socket = ready(connect(bob), bob)
    time.sleep(6)
    sent = alice.send(bob, "still there?")
    assert bob_socket.expect("message")["message"]["msg_id"] == sent["msg_id"]


def session_cookie(user) -> str:
    from django.test import Client

    browser = Client()
    assert browser.login(username=user.username, password="correct-horse-battery")
    return "sessionid=" + browser.cookies["sessionid"].value


def test_browser_session_socket_from_the_same_origin_is_accepted(connect, daphne, alice):
    headers = {"Cookie": session_cookie(alice), "Origin": f"http://{daphne.address}"}
    sock = connect(headers=headers)
    assert sock.expect("ready")["user_id"] == alice.id


@pytest.mark.parametrize("origin", ["http://evil.example", None])
def test_browser_session_socket_from_another_origin_is_closed_with_4401(connect, alice, origin):
    headers = {"Cookie": session_cookie(alice)}
    if origin:
        headers["Origin"] = origin
    assert connect(headers=headers).close_code() == 4401


def test_a_session_from_before_a_password_change_or_an_unknown_one_is_closed_with_4401(connect, daphne, alice):
    origin = f"http://{daphne.address}"
    cookie = session_cookie(alice)
    user = User.objects.get(pk=alice.id)
    user.set_password("another-horse-battery")  # the session's hash no longer matches, as in Django's views
    user.save()
    assert connect(headers={"Cookie": cookie, "Origin": origin}).close_code() == 4401
    assert connect(headers={"Cookie": "sessionid=nosuchsession", "Origin": origin}).close_code() == 4401
    assert connect(headers={"Cookie": "theme=dark; sessionid=", "Origin": origin}).close_code() == 4401


def test_deactivating_a_connected_user_closes_their_sockets(connect, alice):
    sock = ready(connect(alice), alice)
    user = User.objects.get(pk=alice.id)
    user.is_active = False
    user.save()
    assert sock.close_code() == 4401


def test_revoking_a_token_closes_only_the_sockets_opened_with_it(connect, daphne, alice):
    from rest_framework.authtoken.models import Token

    token_socket = ready(connect(alice), alice)
    session_socket = ready(
        connect(headers={"Cookie": session_cookie(alice), "Origin": f"http://{daphne.address}"}), alice
    )
    Token.objects.filter(key=alice.token).delete()
    assert token_socket.close_code() == 4401
    session_socket.send({"type": "ping"})
    assert session_socket.expect("pong") == {"type": "pong"}
