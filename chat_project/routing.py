from django.urls import re_path

from messaging.consumers import ChatConsumer

from .ws_auth import TokenAuthMiddleware

websocket_urlpatterns = [
    # asgi.py's AuthMiddlewareStack finds the session's user; a ?token= replaces it.
    re_path(r"^ws/chat/?$", TokenAuthMiddleware(ChatConsumer.as_asgi())),
]
