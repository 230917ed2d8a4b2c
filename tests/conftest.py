"""Fixtures shared by the suite: real MariaDB, real Redis, real Celery workers.

Users and messages are made through the same services and endpoints people
use. Most tests need ``transactional_db``: sends publish to Redis and enqueue
fan-out on commit, and workers and consumers run in other threads.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from messaging.content_filter import forget_cached_words

API = "/api/v1/"
PASSWORD = "correct-horse-battery"


def clear_redis(urls: list[str] | None = None) -> None:
    """Delete this run's keys (data, broker, channel layer), never another run's."""
    for url, pattern in settings.TEST_REDIS_PATTERNS.items():
        if urls is not None and url not in urls:
            continue
        client = redis.Redis.from_url(url)
        batch = []
        for name in client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        client.close()


@pytest.fixture(autouse=True)
def clean_redis(request):
    """Every test starts with none of this run's keys in Redis (the ``unit`` layer uses no Redis)."""
    if request.node.get_closest_marker("unit") is None:
        clear_redis()
        forget_cached_words()


@dataclass
class ApiUser:
    """A registered user and an API client authenticated with their token."""

    id: int
    username: str
    token: str
    client: APIClient = field(repr=False)

    def get(self, path: str, params: dict | None = None):
        return self.client.get(API + path, params or {})

    def post(self, path: str, body=None):
        return self.client.post(API + path, body if body is not None else {}, format="json")

    def patch(self, path: str, body):
        return self.client.patch(API + path, body, format="json")

    def delete(self, path: str):
        return self.client.delete(API + path)

    def send(
        self,
        to: "ApiUser | int",
        content: str = "hello",
        client_msg_id: str | None = None,
        attachments: list[int] | None = None,
    ) -> dict:
        body: dict = {"to": to if isinstance(to, int) else to.id, "content": content}
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        if attachments is not None:
            body["attachments"] = attachments
        response = self.post("messages", body)
        assert response.status_code == 201, response.content
        return response.json()


def register(username: str, nickname: str = "") -> ApiUser:
    client = APIClient()
    response = client.post(
        API + "auth/register", {"username": username, "password": PASSWORD, "nickname": nickname}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    client.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    return ApiUser(body["user_id"], username, body["token"], client)


@pytest.fixture
def make_user(transactional_db) -> Callable[..., ApiUser]:
    return register


@pytest.fixture
def alice(make_user) -> ApiUser:
    return make_user("alice", "Alice")


@pytest.fixture
def bob(make_user) -> ApiUser:
    return make_user("bob", "Bob")


@pytest.fixture
def carol(make_user) -> ApiUser:
    return make_user("carol", "Carol")


@pytest.fixture
def chat(alice, bob, carol):
    """alice -> bob: one message (the conversation exists); carol is a stranger to it."""
    message = alice.send(bob, "first")
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "conv": message["conversation_id"],
        "msg": message["msg_id"],
    }


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (celery.contrib.testing) consuming all three queues."""
    from celery.contrib.testing.worker import start_worker

    from chat_project.celery import app

    app.loader.import_default_modules()
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=["realtime", "delayed", "retry"],
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def pushed_frames():
    """Every (user_id, frame) this process pushes during the test, in order (chat_project.common.push.capture)."""
    from chat_project.common import push

    with push.capture() as frames:
        yield frames


def wait_for(condition: Callable[[], object], timeout: float = 15.0, interval: float = 0.05):
    """Poll until ``condition()`` is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def daphne(django_db_setup, django_db_blocker):
    """One real daphne process for the session, on the test database."""
    from .live import Daphne

    server = Daphne()
    yield server
    server.stop()


@pytest.fixture
def start_daphne(django_db_setup):
    """Start extra daphne processes (with their own settings) for one test."""
    from .live import Daphne

    servers = []

    def start(port: int | None = None, args: tuple[str, ...] = (), web_process: bool = False, **env: str) -> Daphne:
        server = Daphne(env, port=port, args=args, web_process=web_process)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def connect(daphne):
    """Open real WebSocket clients to the session's daphne (or another server); all closed afterwards."""
    sockets = []

    def open_socket(user=None, server=None, **kwargs):
        sock = (server or daphne).socket(user.token if user is not None else None, **kwargs)
        sockets.append(sock)
        return sock

    yield open_socket
    for sock in sockets:
        sock.close()
