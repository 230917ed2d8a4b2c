from django.urls import re_path

from messaging.consumers import ChatConsumer

from .ws_auth import SocketAuthMiddleware

websocket_urlpatterns = [
    # The user from ?token=, else from the session cookie (ws_auth.py).
    re_path(r"^ws/chat/?$", SocketAuthMiddleware(ChatConsumer.as_asgi())),
]
