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

Measured: docs/benchmarks.md, "Fewer hops per REST request".
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
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
