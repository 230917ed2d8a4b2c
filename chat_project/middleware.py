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
