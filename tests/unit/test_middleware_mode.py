"""Under ASGI a request's middleware and view run in one hop into its thread (chat_project/sync_chain.py)."""

import asyncio
import threading

import pytest
from asgiref.sync import AsyncToSync
from django.conf import settings

pytestmark = pytest.mark.unit


def request(app, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []
    queued = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if queued:
            return queued.pop(0)
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_the_middleware_and_the_view_run_in_the_requests_thread_without_a_hop_back_to_the_loop(monkeypatch):
    import chat_project.asgi as asgi  # what daphne loads

    handler = getattr(asgi.django_asgi_app, "application", asgi.django_asgi_app)  # inside the static files' handler
    hops_back: list[str] = []
    original = AsyncToSync.__call__

    def counting(self, *args, **kwargs):
        hops_back.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counting)
    status, body = request(handler, "/no-such-page")
    # Django's URL resolution, middleware and error handling answered, as before.
    assert status == 404
    assert b"Not found" in body
    # Django's async chain came back to the event loop (AsyncToSync) between the
    # middleware and the view of every request; the sync chain never does.
    assert hops_back == []
    # The settings keep Django's own paths (check --deploy and the admin look for them).
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
