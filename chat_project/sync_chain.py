"""Django under ASGI with the request path of WSGI: one hop into the request's thread, not three.

Django's ``ASGIHandler`` builds its middleware chain in async mode. Even
when every middleware is sync-only (the ``async_capable = False`` this
project used to set on them), the innermost handler stays async: the
request went from daphne's event loop into its thread for the middleware,
back to the loop (``AsyncToSync``) to resolve the URL, and into the thread
again for the view, and each hop is a wake-up of the other side through a
pipe. Here the chain is built as ``WSGIHandler`` builds it (sync all the way
down) and called in the request's thread once. URL resolution, middleware,
view and exception handling are Django's own code, unchanged; the
request-started and request-finished signals, the body's reading and the
response's sending stay in ``ASGIHandler``.

The request's thread is a kept one (``RequestThreads``): ``ASGIHandler``
gives each request a ``ThreadSensitiveContext`` of its own, whose first sync
call started a new thread and whose end started another to join it, about
0.24 ms a request here against 0.08 for a call into a kept thread. A request
still has one thread to itself for all its sync code (Django's thread-local
state, its database connection), as before.

Measured: docs/benchmarks.md, "Fewer hops per REST request" and "Kept request threads".
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle request threads a process keeps; a burst beyond them gets new ones, which end once it is over.
IDLE_REQUEST_THREADS = 16


class RequestThreads:
    """One-thread executors for HTTP requests, each used by one request at a time, kept between requests."""

    def __init__(self, idle_max: int = IDLE_REQUEST_THREADS) -> None:
        self.idle_max = idle_max
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        """Keep ``executor`` for the next request, or let its thread end when enough are kept.

        At once, even when the request's sync code still runs (a client that went
        away stops the await, not the thread): the next request's calls then run
        after it in that one thread, never beside it.
        """
        with self._lock:
            if len(self._idle) < self.idle_max:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)  # what was submitted still runs; then the thread ends


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.request_threads = RequestThreads()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # Django's refusal, as before
        executor = self.request_threads.acquire()
        try:
            # ASGIHandler.__call__'s body, with the request's thread given instead of started.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.request_threads.release(executor)

    def load_middleware(self, is_async: bool = False) -> None:
        # ASGIHandler asks for an async chain; a sync one, as WSGIHandler has.
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        # The request's own thread (ThreadSensitiveContext, per request in ASGIHandler.__call__),
        # where Django would run a sync view: thread-local state and DB connections stay per request.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> ASGIHandler:
    """``django.core.asgi.get_asgi_application`` with this handler (django.setup() already done)."""
    return SyncChainASGIHandler()
