"""Django's middleware in sync mode under ASGI: one thread hop per request instead of one per hook.

Every Django middleware is async-capable, so under ASGI Django runs the
chain in async mode and each ``process_request``/``process_response`` hops
into the request's thread on its own (``MiddlewareMixin.__acall__``): about
a dozen round trips between the event loop and that thread per request,
while the views themselves are sync. With ``async_capable`` off (Django's
documented middleware flag), the whole chain runs in the request's thread
in one go: REST p50 5.8 -> 4.5 ms and p99 10-12 -> 7 ms through daphne
(docs/benchmarks.md).

The flag is set on the classes MIDDLEWARE names, before the ASGI handler
loads them (chat_project/asgi.py), rather than on subclasses: the settings
keep Django's own paths, which ``check --deploy`` and the admin look for.
"""

from django.conf import settings
from django.utils.module_loading import import_string


def run_middleware_in_sync_mode() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if getattr(middleware, "sync_capable", True):
            middleware.async_capable = False


class ReleaseRenderedData:
    """Let a rendered REST response's data go when the response goes, not at the collector's next full pass.

    DRF's Response refers to itself (``renderer_context["response"]``) and to
    its view, which refers back (``view.response``): every response is a
    reference cycle, and the page it rendered hangs from it. A ``sync`` page
    of 500 messages left 1,593 objects (the messages' dicts and lists) for
    CPython's cycle collector. They piled up in the oldest generation, and
    each full collection that freed them stopped the process for 6-13 ms: the
    p99 of ``sync`` and ``offline`` over HTTP sat about 13 ms above their p50
    (docs/benchmarks.md, "Warm reads at 10 million messages"). Once the body
    is rendered nothing reads ``data`` or ``renderer_context`` again, so
    both are dropped here and the page is freed by its reference count.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(response, "is_rendered", False) and getattr(response, "renderer_context", None) is not None:
            response.data = None
            response.renderer_context = None
        return response
