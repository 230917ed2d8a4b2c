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


@pytest.fixture
def recorded_steps(monkeypatch):
    """(step, thread id) of each request's sync steps: request_started, the view's chain, request_finished."""
    from django.core.signals import request_finished, request_started

    import chat_project.asgi as asgi

    handler = getattr(asgi.django_asgi_app, "application", asgi.django_asgi_app)
    seen: list[tuple[str, int]] = []
    original = type(handler).get_response

    def get_response(self, request):
        seen.append(("view", threading.get_ident()))
        return original(self, request)

    def started(**kwargs):
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs):
        seen.append(("finished", threading.get_ident()))

    monkeypatch.setattr(type(handler), "get_response", get_response)
    request_started.connect(started, weak=False, dispatch_uid="test-started")
    request_finished.connect(finished, weak=False, dispatch_uid="test-finished")
    try:
        yield handler, seen
    finally:
        request_started.disconnect(dispatch_uid="test-started")
        request_finished.disconnect(dispatch_uid="test-finished")


def test_a_requests_sync_steps_share_one_thread_and_later_requests_start_no_thread(recorded_steps):
    handler, seen = recorded_steps
    for _ in range(5):
        request(handler, "/no-such-page")
    threads_before = {t.ident for t in threading.enumerate()}
    seen.clear()
    for _ in range(20):
        request(handler, "/no-such-page")
    steps = [seen[i : i + 3] for i in range(0, len(seen), 3)]
    assert len(steps) == 20
    for started, view, finished in steps:
        assert (started[0], view[0], finished[0]) == ("started", "view", "finished")
        assert started[1] == view[1] == finished[1] != threading.get_ident()  # one thread, not the loop's
    # Kept threads served them all: none was started for a request (Django's handler started two each).
    assert {ident for _, ident in seen} <= threads_before
    assert {t.ident for t in threading.enumerate()} <= threads_before


def test_requests_at_once_each_get_a_thread_of_their_own():
    import chat_project.asgi as asgi

    handler = getattr(asgi.django_asgi_app, "application", asgi.django_asgi_app)
    threads = handler.request_threads
    both_in = threading.Barrier(2, timeout=10)  # only two requests in two threads get past it
    a, b = threads.acquire(), threads.acquire()
    assert a is not b
    found = [a.submit(both_in.wait), b.submit(both_in.wait)]
    assert sorted(f.result(timeout=15) for f in found) == [0, 1]  # both got past: two threads at once
    threads.release(a)
    threads.release(b)
    assert {threads.acquire(), threads.acquire()} == {a, b}  # kept, and handed out again
    threads.release(a)
    threads.release(b)


def test_past_the_kept_number_a_released_thread_finishes_its_work_and_ends():
    from chat_project.sync_chain import RequestThreads

    threads = RequestThreads(idle_max=1)
    kept, surplus = threads.acquire(), threads.acquire()
    slow = surplus.submit(threading.Event().wait, 0.2)  # still running when released
    threads.release(kept)
    threads.release(surplus)
    assert slow.result(timeout=5) is False  # what it held ran to its end
    [worker] = surplus._threads
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert threads.acquire() is kept
