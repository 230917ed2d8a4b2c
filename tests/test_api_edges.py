"""The HTTP edge seen from outside: error shape on every path and method (malformed
input too), credentials on every endpoint, trailing slashes, unknown query
parameters and ?format=, rate limits and client addresses behind proxies, body
limits, production settings.
"""

import asyncio
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from chat_project import pages
from chat_project.body_limit import BodyLimitMiddleware
from chat_project.common.client_ip import TrustedProxyMiddleware, client_ip

from .conftest import API, PASSWORD
from .endpoints import PROTECTED, SLASH_CASES
from .helpers import BOB, assert_error, avoid_window_edge, conversation_ids, history, history_ids, raw_request, with_bob

ROOT = Path(__file__).resolve().parent.parent
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def assert_json_error(response, status: int, code: str, method: str = "GET") -> None:
    if method == "HEAD":  # no body, but the same status and content type
        assert response.status_code == status, (method, response.status_code)
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    else:
        assert_error(response, status, code)


# --- every answer under /api/ is JSON --------------------------------------------

UNMATCHED = [
    "/api/",
    "/api/nope",
    "/api/v1/",
    "/api/v1/nope",
    "/api/v2/me",
    "/api/v1/messages/abc",
    "/api/v1/conversations/abc/read",
    "/api/v1/conversations/1/nope",
    "/api/v1/users/abc/",
    "/api/v1/auth/token/extra",
]


@pytest.mark.parametrize("path", UNMATCHED)
def test_every_method_on_an_unknown_api_path_is_json_not_found(db, path):
    # A browser-like client: CSRF checks on, as in production.
    anonymous = Client(enforce_csrf_checks=True)
    for method in METHODS:
        response = anonymous.generic(method, path, b'{"a": 1}', content_type="application/json")
        assert_json_error(response, 404, "not_found", method)


def test_an_unknown_api_path_is_json_not_found_for_a_logged_in_browser_too(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(pk=alice.id))
    for path in UNMATCHED:
        for method in METHODS:
            assert_json_error(browser.generic(method, path), 404, "not_found", method)


def test_a_session_request_without_csrf_token_is_json_forbidden(alice, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(pk=alice.id))
    for method, path in [("POST", "messages"), ("PATCH", "me"), ("DELETE", "messages/1"), ("POST", "offline/ack")]:
        response = browser.generic(method, API + path, b"{}", content_type="application/json")
        assert_error(response, 403, "forbidden")


def test_the_csrf_failure_view_answers_json_under_api_and_a_page_elsewhere():
    factory = RequestFactory()
    api = pages.csrf_failure(factory.post("/api/v1/anything"), "CSRF cookie not set.")
    assert api.status_code == 403 and api["Content-Type"].startswith("application/json")
    assert json.loads(api.content)["code"] == "forbidden"
    page = pages.csrf_failure(factory.post("/login/"), "CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_the_login_form_without_csrf_token_is_still_refused(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_a_host_outside_allowed_hosts_is_json_under_api(db, settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    response = Client().get(API + "me", HTTP_HOST="evil.example.net")
    assert_error(response, 400, "validation_error")


def test_methods_an_endpoint_does_not_take_are_json(alice):
    for method, path in [("PUT", "me"), ("DELETE", "me"), ("PUT", "messages"), ("GET", "offline/ack")]:
        assert_error(alice.client.generic(method, API + path), 405, "method_not_allowed")


def test_unknown_api_path_is_json_not_found_without_credentials(anonymous, db):
    for path in ("/api/v1/whatever", "/api/v2/me", "/api/nothing/here/"):
        assert_error(anonymous.get(path), 404, "not_found")


# --- credentials on every endpoint but auth/ -----------------------------------


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize("method, path", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_other_endpoint_needs_credentials(anonymous, db, method, path, slash):
    base, _, query = path.partition("?")
    full = base + slash + ("?" + query if query else "")
    response = raw_request(anonymous, method, full, json.dumps({"to": 1, "content": "x"}))
    assert_error(response, 401, "not_authenticated")


# --- trailing slashes ----------------------------------------------------------


@pytest.mark.parametrize("method, path, body, status", SLASH_CASES, ids=[f"{c[0]} {c[1]}" for c in SLASH_CASES])
def test_paths_work_with_and_without_trailing_slash(chat, method, path, body, status):
    alice, body = chat["alice"], with_bob(body, chat)
    base, _, query = path.format(**{k: getattr(v, "id", v) for k, v in chat.items()}).partition("?")
    answers = []
    for slash in ("", "/"):
        full = base + slash + ("?" + query if query else "")
        response = raw_request(alice.client, method, full, json.dumps(body) if body is not None else "")
        assert response.status_code == status, (full, response.status_code, response.content)
        if method == "GET":
            answer = response.json()
            answer.pop("next_since", None)  # moves with the clock
            answers.append(answer)
    if answers:
        assert answers[0] == answers[1]


def test_register_with_trailing_slash(anonymous, transactional_db):
    response = anonymous.post(API + "auth/register/", {"username": "hank", "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content


# --- malformed input never answers 500 -----------------------------------------


class Raw:
    """A request body sent as is, with its content type."""

    def __init__(self, text: str | bytes, content_type: str = "application/json") -> None:
        self.text, self.content_type = text, content_type

    def __repr__(self) -> str:
        return f"Raw({self.text!r}, {self.content_type!r})"


def case(method, path, body=None, status=400, code="validation_error", field=None, id=None):
    return pytest.param(method, path, body, status, code, field, id=id or f"{method} {path} {body!r}"[:80])


MALFORMED = [
    # Bodies that are not a JSON object.
    case("POST", "messages", Raw("{not json"), id="messages non-json"),
    case("POST", "messages", Raw('{"to": 1,'), id="messages truncated json"),
    case("POST", "messages", Raw("[" * 100_000 + "]" * 100_000), id="messages deeply nested json"),
    case("POST", "auth/register", Raw('{"a":' * 100_000 + "1" + "}" * 100_000), id="register deeply nested json"),
    case("POST", "messages", Raw('{"to": ' + "9" * 5000 + ', "content": "hi"}'), id="messages 5000-digit number"),
    case("POST", "messages", Raw('{"to": NaN, "content": "hi"}'), id="messages NaN"),
    case("POST", "messages", Raw("null"), field="to", id="messages json null"),
    case("POST", "messages", Raw(b"\xff\xfe garbage"), id="messages garbage bytes"),
    case("POST", "messages", [1, 2], field="non_field_errors", id="messages json list"),
    case("POST", "messages", "just a string", field="non_field_errors", id="messages json string"),
    case("POST", "messages", 42, field="non_field_errors", id="messages json number"),
    case("POST", "auth/register", Raw("{not json"), id="register non-json"),
    case("POST", "auth/register", ["alice"], id="register json list"),
    case("POST", "auth/token", Raw("nope"), id="token non-json"),
    case("POST", "auth/token", "alice", id="token json string"),
    case("PATCH", "me", Raw("{"), id="me non-json"),
    case("PATCH", "me", [{"nickname": "x"}], id="me json list"),
    case("POST", "conversations/{conv}/read", Raw("{oops"), id="read non-json"),
    case("POST", "conversations/{conv}/read", [1], id="read json list"),
    case("POST", "offline/ack", Raw("]"), id="ack non-json"),
    case("POST", "offline/ack", 3.5, id="ack json number"),
    # Not JSON at all.
    case(
        "POST", "messages", Raw("to=1&content=hi", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"
    ),
    case("POST", "messages", Raw("hello", "text/plain"), 415, "unsupported_media_type"),
    case(
        "POST", "auth/register", Raw("username=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"
    ),
    case("PATCH", "me", Raw("nickname=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
    # Wrong methods.
    case("PUT", "me", {"nickname": "x"}, 405, "method_not_allowed"),
    case("DELETE", "me", None, 405, "method_not_allowed"),
    case("GET", "messages", None, 405, "method_not_allowed"),
    case("PUT", "messages/{msg}", {}, 405, "method_not_allowed"),
    # PROTOCOL.md 1.2: PATCH messages/{msg_id} is an edit.
    case("PATCH", "messages/{msg}", {}, field="content", id="edit without content"),
    case("PATCH", "messages/{msg}", Raw("{"), id="edit non-json"),
    case("POST", "unread", {}, 405, "method_not_allowed"),
    case("GET", "auth/register", None, 405, "method_not_allowed"),
    case("POST", "conversations", {}, 405, "method_not_allowed"),
    # `to`
    case("POST", "messages", {"to": str(2), "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2.0, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2.5, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": True, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": None, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": -1, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": 2**70, "content": "hi"}, field="to"),
    case("POST", "messages", {"to": {"id": 2}, "content": "hi"}, field="to"),
    # content
    case("POST", "messages", {"to": BOB, "content": 5}, field="content"),
    case("POST", "messages", {"to": BOB, "content": ["hi"]}, field="content"),
    case("POST", "messages", {"to": BOB, "content": None}, field="content"),
    case("POST", "messages", {"to": BOB, "content": {"text": "hi"}}, field="content"),
    # client_msg_id
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": "x" * 65}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": ""}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": 7}, field="client_msg_id"),
    case("POST", "messages", {"to": BOB, "content": "hi", "client_msg_id": ["a"]}, field="client_msg_id"),
    # up_to and other ids in bodies
    case("POST", "conversations/{conv}/read", {"up_to": "10"}, field="up_to"),
    case("POST", "offline/ack", {"sender_id": BOB, "up_to": "10"}, field="up_to"),
    case("POST", "offline/ack", {"sender_id": 2**80, "up_to": 1}, field="sender_id"),
    # Query parameters
    case("GET", "conversations?before=-1", field="before"),
    case("GET", "conversations?before=1e5", field="before"),
    case("GET", "conversations?before=%d" % 2**80, field="before"),
    case("GET", "conversations?limit=abc", field="limit"),
    case("GET", "conversations/{conv}/messages?before=-1", field="before"),
    case("GET", "conversations/{conv}/messages?after=1e5", field="after"),
    case("GET", "conversations/{conv}/messages?before=%d" % 2**80, field="before"),
    case("GET", "conversations/{conv}/messages?limit=%E2%91%A0", field="limit"),
    case("GET", "sync?since=%d" % 2**80, field="since"),
    case("GET", "sync?since=abc", field="since"),
    case("GET", "sync?since=" + "9" * 5000, field="since", id="sync 5000-digit since"),
    case("GET", "conversations?before=" + "9" * 5000, field="before", id="conversations 5000-digit before"),
    case("GET", "conversations/{conv}/messages?after=" + "9" * 5000, field="after", id="messages 5000-digit after"),
    case("GET", "users?q=%00", field="q"),
    # Unknown paths under /api/
    case("GET", "whatever", None, 404, "not_found"),
    case("POST", "whatever", {}, 404, "not_found"),
    case("GET", "users/abc", None, 404, "not_found"),
    case("GET", "conversations/-1", None, 404, "not_found"),
    case("DELETE", "messages/abc", None, 404, "not_found"),
    case("GET", "../whatever", None, 404, "not_found"),
]


@pytest.mark.parametrize("method, path, body, status, code, field", MALFORMED)
def test_malformed_input_answers_4xx_with_the_error_shape(chat, method, path, body, status, code, field):
    path = path.format(conv=chat["conv"], msg=chat["msg"])
    if isinstance(body, Raw):
        data, content_type = body.text, body.content_type
    else:
        body = with_bob(body, chat)
        data, content_type = ("" if body is None else json.dumps(body)), "application/json"
    response = raw_request(chat["alice"].client, method, path, data, content_type)
    assert_error(response, status, code, field)
    # Nothing was sent by any of these.
    assert history_ids(chat["bob"], chat["conv"]) == [chat["msg"]]


# --- unknown query parameters are ignored, ?format= too --------------------------


def test_unknown_query_parameters_are_ignored(alice, bob):
    sent = alice.send(bob, "hi")
    assert conversation_ids(alice, colour="blue", limit=5) == [sent["conversation_id"]]
    assert history_ids(alice, sent["conversation_id"], page="2", cursor="x") == [sent["msg_id"]]
    assert [m["msg_id"] for m in alice.get("sync", {"since": 0, "x": "y"}).json()["results"]] == [sent["msg_id"]]


@pytest.mark.parametrize("fmt", ["xml", "json", "api", "yaml", ""])
def test_format_query_parameter_is_ignored(alice, bob, fmt):
    for path in ("me", "conversations", "unread", f"users/{bob.id}"):
        response = alice.client.get(API + path, {"format": fmt})
        assert response.status_code == 200, (path, response.status_code, response.content[:200])
        assert response["Content-Type"].startswith("application/json")
    response = alice.client.get(API + "conversations/999999999", {"format": fmt})
    assert_error(response, 404, "not_found")


def test_the_schema_still_takes_its_format_and_ignores_unknown_ones(anonymous, db):
    as_json = anonymous.get("/api/schema/", {"format": "json"})
    assert as_json.status_code == 200 and json.loads(as_json.content)["openapi"]
    as_yaml = anonymous.get("/api/schema/", {"format": "yaml"})
    assert as_yaml.status_code == 200 and as_yaml.content.startswith(b"openapi:")
    assert anonymous.get("/api/schema/", {"format": "xml"}).status_code == 200


# --- rate limits ---------------------------------------------------------------


def test_the_send_rate_limit_answers_429_with_retry_after(alice, bob, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_SEND_RATE = (3, 60)
    avoid_window_edge(60)
    sent = [alice.send(bob, f"m{n}") for n in range(3)]

    response = alice.post("messages", {"to": bob.id, "content": "one too many"})
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert history(bob, sent[0]["conversation_id"])["results"] == sent
    # Other users have their own budget.
    assert bob.post("messages", {"to": alice.id, "content": "my turn"}).status_code == 201


def test_the_login_rate_limit_answers_429_with_retry_after(alice, anonymous, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (2, 60)
    avoid_window_edge(60)
    for password in ("wrong-password-1", PASSWORD):
        anonymous.post(API + "auth/token", {"username": "alice", "password": password}, format="json")
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    # Authenticated requests are not login attempts.
    assert alice.get("me").status_code == 200


def test_the_register_rate_limit_answers_429_with_retry_after(anonymous, transactional_db, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_REGISTER_RATE = (1, 60)
    avoid_window_edge(60)
    first = anonymous.post(API + "auth/register", {"username": "ivy", "password": PASSWORD}, format="json")
    assert first.status_code == 201
    response = anonymous.post(API + "auth/register", {"username": "jack", "password": PASSWORD}, format="json")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert not get_user_model().objects.filter(username="jack").exists()


# --- client address: trusted proxies only ------------------------------------------


def _wrong_login(client: APIClient, **extra):
    return client.post(API + "auth/token", {"username": "alice", "password": "wrong-password"}, format="json", **extra)


def test_forwarded_for_from_an_untrusted_peer_does_not_buy_a_fresh_login_budget(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (20, 60)
    settings.CHAT_TRUSTED_PROXIES = []  # the production default
    avoid_window_edge(60)
    anonymous = APIClient()
    for _ in range(20):
        assert_error(_wrong_login(anonymous), 401, "not_authenticated")
    for n in range(25):
        assert_error(_wrong_login(anonymous, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"), 429, "rate_limited")


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (3, 60)
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    avoid_window_edge(60)
    proxy = APIClient(REMOTE_ADDR="10.1.2.3")
    for _ in range(3):
        assert_error(_wrong_login(proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"), 401, "not_authenticated")
    assert_error(_wrong_login(proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"), 429, "rate_limited")
    # What the client wrote itself (left of what the proxy appended) changes nothing.
    assert_error(_wrong_login(proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7"), 429, "rate_limited")
    # Another client behind the same proxy still has its budget.
    assert_error(_wrong_login(proxy, HTTP_X_FORWARDED_FOR="203.0.113.8"), 401, "not_authenticated")
    response = proxy.post(
        API + "auth/token",
        {"username": "alice", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert response.status_code == 200


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_register_budget(transactional_db, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_REGISTER_RATE = (1, 60)
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    avoid_window_edge(60)
    proxy = APIClient(REMOTE_ADDR="10.1.2.3")

    def register(username: str, forwarded_for: str):
        body = {"username": username, "password": PASSWORD}
        return proxy.post(API + "auth/register", body, format="json", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert register("ivy", "203.0.113.7").status_code == 201
    assert_error(register("jack", "203.0.113.7"), 429, "rate_limited")
    assert register("kim", "203.0.113.8").status_code == 201


def test_the_login_page_limits_by_forwarded_client_behind_a_trusted_proxy(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (2, 60)
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    avoid_window_edge(60)
    browser = Client(REMOTE_ADDR="10.1.2.3")
    form = {"username": "alice", "password": "wrong-password"}
    for _ in range(2):
        assert browser.post("/login/", form, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 200
    assert browser.post("/login/", form, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert browser.post("/login/", form, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200
    # Without the proxy in the list, the header is the client's own word: one budget for the peer.
    settings.CHAT_TRUSTED_PROXIES = []
    for n in range(3):
        browser.post("/login/", form, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert browser.post("/login/", form, HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429


def scope(peer: str | None, forwarded_for: str | None = None, **headers: str) -> dict:
    pairs = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for is not None else []
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "scheme": "http", "client": [peer, 5000] if peer else None, "headers": pairs}


@pytest.mark.parametrize(
    "trusted, peer, forwarded_for, expected",
    [
        ([], "192.0.2.1", "203.0.113.7", "192.0.2.1"),
        (["127.0.0.1/8", "::1"], "127.0.0.1", None, "127.0.0.1"),
        (["127.0.0.1/8", "::1"], "127.0.0.1", "203.0.113.7", "203.0.113.7"),
        (["127.0.0.1/8", "::1"], "::1", "2001:db8::5", "2001:db8::5"),
        (["127.0.0.1/8"], "::ffff:127.0.0.1", "203.0.113.7", "203.0.113.7"),
        # Right-most entry that is not a trusted proxy; the client's own entries to its left are ignored.
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (["10.0.0.0/8"], "10.0.0.1", "10.9.9.9, 10.0.0.2", "10.9.9.9"),
        (["10.0.0.0/8"], "10.0.0.1", "203.0.113.7:4711", "203.0.113.7"),
        (["10.0.0.0/8"], "10.0.0.1", "[2001:db8::5]:4711", "2001:db8::5"),
        # Garbage from a trusted proxy holds the client to that proxy's address.
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, not-an-address", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", "", "10.0.0.1"),
        ([], None, "203.0.113.7", "unknown"),
    ],
)
def test_client_ip(settings, trusted, peer, forwarded_for, expected):
    settings.CHAT_TRUSTED_PROXIES = trusted
    assert client_ip(scope(peer, forwarded_for)) == expected
    meta = {"REMOTE_ADDR": peer or ""}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    assert client_ip(RequestFactory().get("/", **meta)) == expected


@pytest.mark.parametrize(
    "trusted, proto, expected",
    [([], "https", "http"), (["10.0.0.0/8"], "https", "https"), (["10.0.0.0/8"], "http", "http")],
)
def test_forwarded_proto_counts_only_from_a_trusted_proxy(settings, trusted, proto, expected):
    settings.CHAT_TRUSTED_PROXIES = trusted
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["scheme"])

    asyncio.run(TrustedProxyMiddleware(app)(scope("10.0.0.1", x_forwarded_proto=proto), None, None))
    assert seen == [expected]


# --- body limits ---------------------------------------------------------------------


def run_body_limit(limit: int, chunks: list[bytes], content_length: int | None, path: str = "/api/v1/messages"):
    """Drive BodyLimitMiddleware with a fake server; what the app saw, what was sent, how many chunks were read."""
    headers = [(b"content-length", str(content_length).encode())] if content_length is not None else []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    read = 0
    app_body = bytearray()
    sent = []

    async def receive():
        nonlocal read
        if read >= len(messages):
            await asyncio.Event().wait()  # nothing more until the client leaves
        read += 1
        return messages[read - 1]

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        # Django's way: read the whole body, stop quietly on http.disconnect, then answer.
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            app_body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    http_scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(BodyLimitMiddleware(app, limit, {"/api/v1/upload": 10 * limit})(http_scope, receive, send))
    return bytes(app_body), sent, read


def test_body_limit_refuses_a_declared_length_over_the_limit_without_reading():
    app_body, sent, read = run_body_limit(1000, [b"x" * 1001], 1001)
    assert read == 0 and app_body == b""
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"


def test_body_limit_stops_a_chunked_body_as_soon_as_it_passes_the_limit():
    chunks = [b"x" * 400] * 100  # 40 times the limit
    app_body, sent, read = run_body_limit(1000, chunks, None)
    assert read == 3  # 1200 bytes: the third chunk passed the limit; the other 97 were never read
    assert len(app_body) == 800
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"code": "payload_too_large", "detail": json.loads(sent[1]["body"])["detail"]}


def test_body_limit_lets_bodies_up_to_the_limit_through():
    app_body, sent, _read = run_body_limit(1000, [b"x" * 500, b"y" * 500], 1000)
    assert app_body == b"x" * 500 + b"y" * 500
    assert sent[0]["status"] == 201


def test_body_limit_is_per_path_prefix():
    app_body, sent, _ = run_body_limit(1000, [b"x" * 5000], 5000, path="/api/v1/upload/avatar")
    assert sent[0]["status"] == 201 and len(app_body) == 5000
    _, sent, _ = run_body_limit(1000, [b"x" * 5000], 5000, path="/api/v1/messages")
    assert sent[0]["status"] == 413


def test_body_limit_answers_plain_text_outside_api():
    _, sent, _ = run_body_limit(1000, [b"x" * 1001], 1001, path="/login/")
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/plain")


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raw_post(address: str, path: str, size: int, *, chunked: bool, headers: dict[str, str] | None = None):
    """POST ``size`` bytes (never held whole here either); the status and the body of the answer."""
    host, port = address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: {address}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    block = b"x" * 65536
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            left -= len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # a server may answer and close before reading everything
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    sock.close()
    return response.status, body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_100_times_the_limit_is_refused_and_memory_stays_flat(start_daphne, alice, chunked):
    limit = 256 * 1024
    server = start_daphne(CHAT_MAX_BODY_BYTES=str(limit))
    auth = {"Authorization": f"Token {alice.token}"}
    # Warm up (imports, first database connection), so what follows measures the body alone.
    for _ in range(3):
        status, _ = raw_post(server.address, "/api/v1/messages", 2 * limit, chunked=chunked, headers=auth)
        assert status == 413
    before = vm_rss_kib(server.proc.pid)
    for _ in range(2):
        status, body = raw_post(server.address, "/api/v1/messages", 100 * limit, chunked=chunked, headers=auth)
        assert status == 413
        assert json.loads(body)["code"] == "payload_too_large"
    growth_kib = vm_rss_kib(server.proc.pid) - before
    assert growth_kib < 100 * limit / 1024 / 5, f"daphne grew by {growth_kib} KiB"
    # The server is fine afterwards.
    assert alice.get("me").status_code == 200


def test_the_largest_valid_message_fits_the_body_limit_even_fully_escaped(start_daphne, alice, bob):
    server = start_daphne()
    content = "😀" * 4000  # every code point escaped as a surrogate pair: 12 bytes each
    body = json.dumps({"to": bob.id, "content": content}, ensure_ascii=True).encode()
    assert len(body) > 48_000
    connection = http.client.HTTPConnection(server.address, timeout=30)
    headers = {"Authorization": f"Token {alice.token}", "Content-Type": "application/json"}
    connection.request("POST", "/api/v1/messages", body, headers)
    response = connection.getresponse()
    assert response.status == 201, response.read()[:300]
    assert json.loads(response.read())["content"] == content


# --- production settings ----------------------------------------------------------


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_ENV"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
        "CHAT_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        **extra,
    }


def test_check_deploy_has_no_warnings_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output, output


def test_production_secure_defaults_can_each_be_switched_off():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.CHAT_TRUSTED_PROXIES)"
    )

    def read(**env: str) -> str:
        command = [sys.executable, "-c", "import django; django.setup(); " + code]
        result = subprocess.run(command, cwd=ROOT, env=production_env(**env), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert read() == "True 31536000 True True []"
    off = {
        "DJANGO_SECURE_SSL_REDIRECT": "off",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "off",
        "DJANGO_CSRF_COOKIE_SECURE": "off",
        "CHAT_TRUSTED_PROXIES": "10.0.0.0/8",
    }
    assert read(**off) == "False 0 False False ['10.0.0.0/8']"


def test_production_redirects_to_https_except_health_and_trusted_https(start_daphne, settings):
    # Daphne.__init__ waits for /healthz over plain HTTP: it must answer 200, not a redirect.
    server = start_daphne(
        CHAT_ENV="production",
        DJANGO_SECRET_KEY=get_random_string(60),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        CHAT_TRUSTED_PROXIES="127.0.0.1",
    )
    connection = http.client.HTTPConnection(server.address, timeout=10)
    connection.request("GET", "/api/v1/me")
    response = connection.getresponse()
    response.read()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{server.address}/api/v1/me"
    # Our proxy terminated TLS and says so: no redirect, and HSTS is sent.
    connection.request("GET", "/api/v1/me", headers={"X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    assert response.status == 401, response.read()[:300]
    response.read()
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
