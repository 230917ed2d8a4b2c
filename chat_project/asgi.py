import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402

if settings.DEBUG:
    # daphne serves no files itself: in development (`make run`, the test
    # servers) /static/ comes from the finders, as `runserver` does it. In
    # production run collectstatic and let the reverse proxy serve STATIC_ROOT.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session middleware only finds the browser's user; the token,
        # the origin check and the 4401 close happen in the consumer, so a
        # refused socket is accepted first and every client can read the code.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
