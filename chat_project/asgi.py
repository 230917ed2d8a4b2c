import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Authentication and the origin check happen in the consumer, so a
        # refused socket is accepted and closed with 4401 (PROTOCOL.md).
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
