"""The same malformed input gets the same error over REST and over the socket (one declaration, messaging/inputs.py)."""

import pytest

pytestmark = pytest.mark.e2e

MAX_SAFE = 2**53 - 1

# (name, body) for POST messages and a "send" frame alike; {bob} is bob's id.
BAD_SENDS = [
    ("no-fields", {}),
    ("no-to", {"content": "hi"}),
    ("no-content", {"to": "{bob}"}),
    ("to-a-string", {"to": "7", "content": "hi"}),
    ("to-a-bool", {"to": True, "content": "hi"}),
    ("to-a-float", {"to": 7.0, "content": "hi"}),
    ("to-null", {"to": None, "content": "hi"}),
    ("to-past-2-53", {"to": MAX_SAFE + 1, "content": "hi"}),
    ("content-empty", {"to": "{bob}", "content": ""}),
    ("content-white-space", {"to": "{bob}", "content": " \n\t"}),
    ("content-a-number", {"to": "{bob}", "content": 5}),
    ("content-too-long", {"to": "{bob}", "content": "x" * 4001}),
    ("content-nul", {"to": "{bob}", "content": "a\x00b"}),
    ("client-msg-id-empty", {"to": "{bob}", "content": "hi", "client_msg_id": ""}),
    ("client-msg-id-too-long", {"to": "{bob}", "content": "hi", "client_msg_id": "c" * 65}),
    ("client-msg-id-a-number", {"to": "{bob}", "content": "hi", "client_msg_id": 12}),
    ("everything-wrong", {"to": "x", "content": "", "client_msg_id": 12}),
    ("to-myself", {"to": "{alice}", "content": "hi"}),
]


def _fill(body: dict, alice, bob) -> dict:
    ids = {"{alice}": alice.id, "{bob}": bob.id}
    return {key: ids.get(value, value) if isinstance(value, str) else value for key, value in body.items()}


def _error(body: dict) -> dict:
    return {key: body.get(key) for key in ("code", "detail", "errors")}


@pytest.mark.parametrize("body", [body for _, body in BAD_SENDS], ids=[name for name, _ in BAD_SENDS])
def test_a_malformed_send_gets_the_same_error_over_rest_and_the_socket(connect, alice, bob, body):
    body = _fill(body, alice, bob)
    response = alice.post("messages", body)
    assert response.status_code == 400, response.content
    rest = _error(response.json())
    assert rest["code"] == "validation_error"

    sock = connect(alice)
    sock.expect("ready")
    sock.send({"type": "send", **body, **({"client_msg_id": body["client_msg_id"]} if "client_msg_id" in body else {})})
    frame = sock.expect("error")
    assert _error(frame) == rest
    assert alice.get("conversations").json()["results"] == []  # nothing was stored either way


def test_every_broken_field_is_reported_at_once(alice):
    body = alice.post("messages", {"to": "x", "content": "", "client_msg_id": 12}).json()
    assert set(body["errors"]) == {"to", "content", "client_msg_id"}
    assert body["detail"] == "Invalid input."


@pytest.mark.parametrize("up_to", ["7", 1.5, True, -1, MAX_SAFE + 1, [1]], ids=repr)
def test_a_malformed_read_gets_the_same_error_over_rest_and_the_socket(connect, alice, bob, up_to):
    conversation_id = bob.send(alice, "hi")["conversation_id"]
    response = alice.post(f"conversations/{conversation_id}/read", {"up_to": up_to})
    assert response.status_code == 400, response.content
    rest = _error(response.json())

    sock = connect(alice)
    sock.expect("ready")
    sock.send({"type": "read", "conversation_id": conversation_id, "up_to": up_to})
    assert _error(sock.expect("error")) == rest
    assert alice.get("unread").json()["total"] == 1  # nothing was marked read
