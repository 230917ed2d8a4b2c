"""Web Push (PROTOCOL.md 1.2): subscriptions, the address check, and pushes a local push service decrypts.

A small threaded HTTP server on 127.0.0.1 stands in for the push service
(CHAT_WEBPUSH_ALLOW_LOOPBACK on). Each test subscription is a browser's:
a P-256 key pair and an auth secret the test made, so the test decrypts
what the server sent (RFC 8291, with http_ece) and checks the VAPID JWT
(RFC 8292) against the server's public key.
"""

import base64
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
import redis
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from messaging.models import MessageRecord
from webpush import delivery, keys
from webpush.models import PushSubscription, VapidKey
from webpush.services import Notification

from .conftest import wait_for
from .helpers import assert_error
from .test_attachments import PDF, uploaded
from .test_avatars import jpeg


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """A subscription as a browser makes it: its own key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.json = {"endpoint": endpoint, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


class PushService:
    """Records every POST; answers 201, or what ``status`` says for a path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, bytes]] = []
        self.status: dict[str, int] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                service.received.append((self.path, dict(self.headers), body))
                self.send_response(service.status.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def browser(self, path: str) -> Browser:
        return Browser(self.origin + path)

    def to(self, path: str) -> list[tuple[str, dict, bytes]]:
        return [r for r in self.received if r[0] == path]


@pytest.fixture(autouse=True)
def fresh_vapid_key():
    """Each test's database starts without the key row: forget this process's copy of an earlier one."""
    keys.forget_cached_key()
    yield
    keys.forget_cached_key()


@pytest.fixture
def push_service(settings):
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    service = PushService()
    yield service
    service.server.shutdown()
    service.server.server_close()


@pytest.fixture
def push_worker(transactional_db):
    """A real Celery worker on the fan-out's queue and the Web Push queue."""
    from celery.contrib.testing.worker import start_worker

    from chat_project.celery import app

    app.loader.import_default_modules()
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=["realtime", "webpush"], shutdown_timeout=30
    ) as worker:
        yield worker


def subscribe(user, browser: Browser) -> None:
    response = user.post("push/subscriptions", browser.json)
    assert response.status_code == 201, response.content


def verify_vapid(headers: dict, audience: str, public_key: str) -> dict:
    """RFC 8292: ``vapid t=<JWT>,k=<key>``; the JWT is ES256 by the server's key, for this origin."""
    scheme, _, params = headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    header_b64, claims_b64, signature_b64 = fields["t"].split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    try:
        server_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail("the VAPID JWT's signature does not verify with the server's key")
    claims = json.loads(unb64url(claims_b64))
    assert claims["aud"] == audience
    assert claims["sub"].startswith("mailto:")
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims


# --- the key -------------------------------------------------------------------


def test_the_vapid_key_is_made_once_and_kept_in_the_database(alice, bob):
    first = alice.get("push/key").json()["public_key"]
    point = unb64url(first)
    assert len(point) == 65 and point[0] == 4
    keys.forget_cached_key()  # another node, or this one restarted: it reads the same row
    assert bob.get("push/key/").json() == {"public_key": first}
    assert VapidKey.objects.count() == 1


# --- subscriptions -------------------------------------------------------------


def test_subscribe_is_idempotent_per_endpoint_and_delete_removes_it(alice, push_service):
    browser = push_service.browser("/sub/a")
    subscribe(alice, browser)
    subscribe(alice, browser)
    assert PushSubscription.objects.filter(user_id=alice.id).count() == 1
    response = alice.client.delete("/api/v1/push/subscriptions/", {"endpoint": browser.endpoint}, format="json")
    assert response.status_code == 204
    assert not PushSubscription.objects.exists()
    again = alice.client.delete("/api/v1/push/subscriptions", {"endpoint": browser.endpoint}, format="json")
    assert again.status_code == 204


def test_subscriptions_per_user_are_bounded_the_oldest_go(alice, push_service, settings):
    settings.CHAT_WEBPUSH_MAX_SUBSCRIPTIONS = 2
    for n in range(3):
        subscribe(alice, push_service.browser(f"/sub/{n}"))
    kept = set(PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == {push_service.origin + "/sub/1", push_service.origin + "/sub/2"}


def test_subscription_changes_are_rate_limited(alice, push_service, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_WEBPUSH_SUBSCRIBE_RATE = (2, 3600)
    subscribe(alice, push_service.browser("/sub/1"))
    subscribe(alice, push_service.browser("/sub/2"))
    response = alice.post("push/subscriptions", push_service.browser("/sub/3").json)
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_a_public_address_is_accepted(alice):
    assert alice.post("push/subscriptions", Browser("https://8.8.8.8/push/abc").json).status_code == 201


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://8.8.8.8/push",  # not https
        "ftp://8.8.8.8/push",
        "https://127.0.0.1/push",  # loopback
        "https://127.1.2.3/push",
        "https://[::1]/push",
        "https://localhost/push",  # a name resolving to loopback
        "https://2130706433/push",  # 127.0.0.1, written as one number
        "https://0x7f.0.0.1/push",
        "https://0.0.0.0/push",
        "https://10.1.2.3/push",  # private
        "https://172.16.0.1/push",
        "https://192.168.1.1/push",
        "https://100.64.0.1/push",  # shared address space (carrier NAT)
        "https://[fd00::1]/push",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[fe80::1]/push",
        "https://[::ffff:10.0.0.1]/push",  # IPv4-mapped private
        "https://224.0.0.1/push",  # multicast
        "https://user@8.8.8.8/push",  # credentials in the URL
        "https://does-not-resolve.invalid/push",
        "not a url",
        "",
    ],
)
def test_an_endpoint_inside_a_network_is_a_validation_error(alice, endpoint):
    response = alice.post("push/subscriptions", Browser(endpoint).json)
    assert_error(response, 400, "validation_error", "endpoint")
    assert not PushSubscription.objects.exists()


def test_a_name_resolving_to_a_private_address_is_refused(alice, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "push.rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
        if host == "push.public.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.4.4", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    response = alice.post("push/subscriptions", Browser("https://push.rebind.test/x").json)
    assert_error(response, 400, "validation_error", "endpoint")
    assert alice.post("push/subscriptions", Browser("https://push.public.test/x").json).status_code == 201


def test_the_loopback_setting_lets_only_loopback_through(alice, settings):
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    assert alice.post("push/subscriptions", Browser("http://127.0.0.1:9/push").json).status_code == 201
    for endpoint in ("http://10.0.0.1/push", "https://192.168.0.1/push", "http://8.8.8.8/push"):
        assert_error(alice.post("push/subscriptions", Browser(endpoint).json), 400, "validation_error", "endpoint")


def test_keys_must_be_a_browsers(alice):
    body = Browser("https://8.8.8.8/push").json
    for keys_value, field in (
        ({"p256dh": "abc", "auth": body["keys"]["auth"]}, "keys.p256dh"),
        ({"p256dh": body["keys"]["p256dh"], "auth": b64url(os.urandom(8))}, "keys.auth"),
        ("not an object", "keys"),
    ):
        response = alice.post("push/subscriptions", {**body, "keys": keys_value})
        assert_error(response, 400, "validation_error", field)


# --- pushes --------------------------------------------------------------------


def test_a_message_to_a_user_without_a_socket_is_pushed_once_to_each_subscription(
    push_worker, push_service, alice, bob
):
    phone, laptop = push_service.browser("/sub/phone"), push_service.browser("/sub/laptop")
    subscribe(bob, phone)
    subscribe(bob, laptop)
    public_key = bob.get("push/key").json()["public_key"]

    sent = alice.send(bob, "are you there? 👋")
    wait_for(lambda: len(push_service.received) >= 2)
    wait_for(lambda: MessageRecord.objects.get(msg_id=sent["msg_id"]).fan_out_done)
    time.sleep(0.5)  # nothing more comes
    for browser in (phone, laptop):
        [(_path, headers, body)] = push_service.to(browser.endpoint.removeprefix(push_service.origin))
        assert headers["Content-Encoding"] == "aes128gcm"
        assert int(headers["TTL"]) > 0
        assert browser.decrypt(body) == {
            "conversation_id": sent["conversation_id"],
            "msg_id": sent["msg_id"],
            "sender_id": alice.id,
            "sender_nickname": "Alice",
            "preview": "are you there? 👋",
        }
        verify_vapid(headers, push_service.origin, public_key)
    assert len(push_service.received) == 2


def test_a_message_of_attachments_only_is_previewed_by_what_it_carries(
    push_worker, push_service, settings, tmp_path, alice, bob
):
    settings.MEDIA_ROOT = tmp_path
    browser = push_service.browser("/sub/bob")
    subscribe(bob, browser)
    photos = [uploaded(alice, jpeg())["attachment_id"] for _ in range(2)]
    pdf = uploaded(alice, PDF, name="minutes.pdf", content_type="application/pdf")["attachment_id"]
    alice.send(bob, "", attachments=photos[:1])
    alice.send(bob, "", attachments=[photos[1], pdf])
    alice.send(bob, "the minutes", attachments=[uploaded(alice, PDF, name="a.pdf")["attachment_id"]])
    wait_for(lambda: len(push_service.received) == 3)
    previews = sorted(browser.decrypt(raw)["preview"] for _path, _headers, raw in push_service.received)
    assert previews == sorted(["📷 Photo", "📎 minutes.pdf and 1 more", "the minutes"])


def test_a_subscription_answered_410_or_404_is_deleted(push_worker, push_service, alice, bob, carol):
    push_service.status.update({"/sub/gone": 410, "/sub/unknown": 404, "/sub/busy": 503})
    for path in ("/sub/gone", "/sub/unknown", "/sub/busy", "/sub/fine"):
        subscribe(bob, push_service.browser(path))
    alice.send(bob, "hello")
    wait_for(lambda: len(push_service.received) == 4)
    wait_for(lambda: PushSubscription.objects.count() == 2)
    assert set(PushSubscription.objects.values_list("endpoint", flat=True)) == {
        push_service.origin + "/sub/busy",
        push_service.origin + "/sub/fine",
    }


def test_a_user_with_an_open_socket_gets_no_push(push_worker, push_service, connect, alice, bob, carol):
    subscribe(bob, push_service.browser("/sub/bob"))
    subscribe(carol, push_service.browser("/sub/carol"))
    sock = connect(bob)
    sock.expect("ready")
    to_bob = alice.send(bob, "you are online")
    sock.expect("message")
    wait_for(lambda: MessageRecord.objects.get(msg_id=to_bob["msg_id"]).fan_out_done)
    # carol has no socket: her push, through the same queue after bob's message, marks the end.
    alice.send(carol, "you are not")
    wait_for(lambda: push_service.to("/sub/carol"))
    assert push_service.to("/sub/bob") == []


# --- the batch itself (no worker) ----------------------------------------------


def note(recipient_id: int, msg_id: int, content: str = "hi") -> Notification:
    return Notification(recipient_id, 7, msg_id, 1, "Alice", content)


def test_preview_off_sends_only_the_ids(push_service, bob, settings):
    settings.CHAT_WEBPUSH_PREVIEW = False
    browser = push_service.browser("/sub/1")
    subscribe(bob, browser)
    assert delivery.deliver_batch([note(bob.id, 100, "secret")]).sent == 1
    [(_path, _headers, body)] = push_service.received
    assert browser.decrypt(body) == {"conversation_id": 7, "msg_id": 100, "sender_id": 1}


def test_a_long_message_is_previewed_shortened(push_service, bob):
    browser = push_service.browser("/sub/1")
    subscribe(bob, browser)
    delivery.deliver_batch([note(bob.id, 100, "x" * 500)])
    preview = browser.decrypt(push_service.received[0][2])["preview"]
    assert len(preview) == 100 and preview.endswith("…")


def test_a_muted_conversation_gets_no_push(push_service, alice, bob, carol):
    subscribe(bob, push_service.browser("/sub/1"))
    quiet = alice.send(bob, "muted chat")["conversation_id"]
    loud = carol.send(bob, "other chat")["conversation_id"]
    assert bob.patch(f"conversations/{quiet}", {"muted": True}).status_code == 200
    notes = [
        Notification(bob.id, quiet, 100, alice.id, "Alice", "hi"),
        Notification(bob.id, loud, 101, carol.id, "Carol", "hi"),
    ]
    report = delivery.deliver_batch(notes)
    assert (report.sent, report.skipped) == (1, 1)
    assert [path for path, _h, _b in push_service.received] == ["/sub/1"]
    assert bob.patch(f"conversations/{quiet}", {"muted": False}).status_code == 200
    assert delivery.deliver_batch(notes[:1]).sent == 1


def test_pushes_per_user_are_rate_limited_the_newest_kept(push_service, bob, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_WEBPUSH_RATE = (2, 60)
    browser = push_service.browser("/sub/1")
    subscribe(bob, browser)
    report = delivery.deliver_batch([note(bob.id, n) for n in (101, 102, 103)])
    assert (report.sent, report.skipped) == (2, 1)
    assert sorted(browser.decrypt(body)["msg_id"] for _p, _h, body in push_service.received) == [102, 103]
    assert delivery.deliver_batch([note(bob.id, 104)]).skipped == 1


def test_a_stored_endpoint_that_moved_inside_the_network_is_not_contacted(bob, monkeypatch, settings):
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    subscribe(bob, Browser("http://127.0.0.1:9/push"))
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = False
    posted = []
    monkeypatch.setattr(delivery.requests, "post", lambda *a, **k: posted.append(a))
    report = delivery.deliver_batch([note(bob.id, 100)])
    assert (report.sent, report.failed, posted) == (0, 1, [])


def test_a_broker_that_refuses_the_push_task_does_not_fail_the_fan_out(monkeypatch, push_service, bob):
    from webpush import tasks

    subscribe(bob, push_service.browser("/sub/1"))
    refused: list = []

    def refuse(*args, **kwargs):
        refused.append(args)
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.deliver, "apply_async", refuse)
    tasks.notify_offline([note(bob.id, 100)])  # logged, not raised
    assert len(refused) == 1


def test_only_users_with_a_subscription_cost_a_push_task(celery_worker, push_service, alice, bob, carol):
    """bob allowed notifications, carol never did: both without a socket, one task, naming bob's message only."""
    from django.conf import settings

    subscribe(bob, push_service.browser("/sub/bob"))
    to_bob, to_carol = alice.send(bob, "for bob"), alice.send(carol, "for carol")
    wait_for(
        lambda: MessageRecord.objects.filter(
            msg_id__in=[to_bob["msg_id"], to_carol["msg_id"]], fan_out_done=True
        ).count()
        == 2
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = broker.lrange(settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] + "webpush", 0, -1)
    broker.close()
    payloads = [p for raw in queued for p in json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0]]
    assert [Notification(*p).msg_id for p in payloads] == [to_bob["msg_id"]]
