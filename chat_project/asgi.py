import os

import django

from .sync_chain import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django.setup(set_prefix=False)
# The middleware chain and the view in one hop into the request's thread (sync_chain.py).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

from messaging.heartbeat import stop_process_presence  # noqa: E402

from .autobahn_logs import defer_autobahn_log_arguments  # noqa: E402
from .body_limit import BodyLimitMiddleware, cap_daphne_request_bodies  # noqa: E402
from .common.client_ip import TrustedProxyMiddleware  # noqa: E402
from .common.frozen_heap import freeze_startup  # noqa: E402
from .daphne_close import allow_registered_close_codes, close_sockets_on_shutdown  # noqa: E402
from .daphne_sockets import slim_daphne_sockets  # noqa: E402
from .dbpool import base as dbpool  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402

if settings.CHAT_SERVE_STATIC:
    # daphne serves no files itself: in development (`make run`, the test
    # servers) /static/ comes from the finders, as `runserver` does it. In
    # production run collectstatic and let the reverse proxy serve STATIC_ROOT.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

# Oversized bodies are refused before Django reads them (body_limit.py); a
# trusted proxy's X-Forwarded-Proto sets the scheme (client_ip.py).
body_limited_app = BodyLimitMiddleware(
    django_asgi_app, settings.CHAT_MAX_BODY_BYTES, settings.CHAT_MAX_BODY_BYTES_BY_PATH
)
cap_daphne_request_bodies(body_limited_app.largest, body_limited_app.limit_for)
# A drained host closes its sockets with 1012 (messaging/drain.py), a process behind
# with the sockets it is opening refuses new ones with 1013 (common/connect_gate.py).
allow_registered_close_codes()
# A stopping daphne unregisters its sockets' presence at once, then closes them with 1012 (daphne_close.py).
close_sockets_on_shutdown(before_close=stop_process_presence)
# An open socket keeps neither its upgrade request nor an asyncio.Queue (daphne_sockets.py).
slim_daphne_sockets()
# autobahn's debug lines build their arguments only when written (autobahn_logs.py).
defer_autobahn_log_arguments()
http_app = TrustedProxyMiddleware(body_limited_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # The user comes from ?token= or the session cookie (ws_auth.py, in
        # routing.py); the origin check of session sockets and the 4401 close
        # happen in the consumer, so a refused socket is accepted first and
        # every client can read the code.
        "websocket": TrustedProxyMiddleware(
            # The stubs want their own _ExtendedURLPattern; re_path makes a URLPattern.
            URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]
        ),
    }
)


def _close_request_connections(**kwargs) -> None:
    """Each HTTP request runs in a thread of its own while it lasts (sync_chain.py): its connection goes back.

    CONN_MAX_AGE keeps the connections of the long-lived threads (the send
    committer, the socket pool, Celery); a request thread's is parked for the
    next request (chat_project/dbpool), or closed.
    """
    for conn in connections.all(initialized_only=True):
        if not dbpool.park(conn):
            conn.close()


request_finished.connect(_close_request_connections, dispatch_uid="chat_close_request_connections")

if settings.CHAT_GC_FREEZE:
    # Everything imported and built so far lives as long as the process: the
    # collector need never walk it again (common/frozen_heap.py).
    freeze_startup()
