"""Who is on the other end of a WebSocket: ``scope["user"]`` for ``/ws/chat/``.

Runs inside Channels' ``AuthMiddlewareStack`` (chat_project/asgi.py), which
has already put the session's user in the scope; routing.py wraps the
consumer in ``TokenAuthMiddleware``.

A ``?token=<key>`` in the query string authenticates the socket with that
API token (``scope["auth_token"]`` keeps the key, so revoking the token can
close exactly these sockets); without one, the Django session cookie does,
as for the browser UI. Nothing is refused here: the consumer accepts every
socket and closes an unauthenticated one with 4401 (PROTOCOL.md), and it
also checks the origin of session sockets.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

# Token keys are 40 characters; a longer value is looked up cut short (and not found).
MAX_TOKEN_LENGTH = 64


def token_from_query(scope) -> str | None:
    """The ``token`` query parameter; None when absent or empty."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0][:MAX_TOKEN_LENGTH] if values else None


@database_sync_to_async
def user_for_token(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None else AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from ``?token=``, over what the session said."""

    async def __call__(self, scope, receive, send):
        key = token_from_query(scope)
        if key is not None:
            scope = {**scope, "user": await user_for_token(key), "auth_token": key}
        return await super().__call__(scope, receive, send)
