import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session middleware only finds the browser's user; the token,
        # the origin check and the 4401 close happen in the consumer, so a
        # refused socket is accepted first and every client can read the code.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
