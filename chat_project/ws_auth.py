"""Who is on the other end of a WebSocket: ``scope["user"]`` for ``/ws/chat/``.

A ``?token=<key>`` in the query string authenticates the socket with that
API token (``scope["auth_token"]`` keeps the key, so revoking the token can
close exactly these sockets); without one, the Django session cookie does,
as for the browser UI. The consumer accepts every socket and closes an
unauthenticated one with 4401 (PROTOCOL.md), and it also checks the origin
of session sockets. Refused here, before the authentication's database read:
a socket that arrives while the process is far behind with those it is
opening, with 1013 (common/connect_gate.py), and the process then stops
accepting connections for a while (accept_pause.py). A token is looked up
in Redis first, as for REST (profiles/auth.py), and the tokens of the
sockets opening at once are looked up together (one round trip, one query
for those not remembered). Either way the socket holds an id-only
``TokenUser``, not a model row.

One layer, in place of Channels' ``AuthMiddlewareStack`` (cookies, then the
session, then the user) and a token layer inside it. Every ASGI layer's
coroutine lives as long as its socket, with the scope it copied; Channels'
three also kept a lazy session and a lazy user each. A socket held about 3 KB
less with one (tracemalloc, docs/benchmarks.md "A hundred thousand sockets").
"""

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from rest_framework.authtoken.models import Token

from profiles.auth import TokenUser, remember_token_users, remembered_token_users

from .accept_pause import accept_pause
from .common.batcher import Batcher
from .common.connect_gate import connect_gate
from .common.limits import CLOSE_TRY_AGAIN_LATER

# Token keys are 40 characters; a longer value is looked up cut short (and not found).
MAX_TOKEN_LENGTH = 64


def token_from_query(scope) -> str | None:
    """The ``token`` query parameter; None when absent or empty."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0][:MAX_TOKEN_LENGTH] if values else None


def session_key_from_cookie(scope) -> str | None:
    """The session cookie's value; None without one."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME) or None
    return None


def users_for_tokens(keys: list[str]) -> list:
    """The user of each token: from Redis when REST or an earlier socket remembered it (profiles/auth.py), else
    from the database (an unknown token: AnonymousUser; an inactive user's: that user, closed with 4401 by the
    consumer; an active user's is remembered).

    For every socket opening meanwhile at once (common/batcher.py): a reconnect storm's sockets read the
    token table in one query a batch, not one each. The socket keeps its user as long as it lives: an
    active user is a ``TokenUser``, the id all it needs of the row.
    """
    remembered = remembered_token_users(keys)
    missing = [key for key in dict.fromkeys(keys) if key not in remembered]
    found = {token.key: token.user for token in Token.objects.select_related("user").filter(key__in=missing)}
    active = {key: user for key, user in found.items() if user.is_active}
    if active:
        remember_token_users(active)
    users: list = []
    for key in keys:
        if key in remembered:  # each socket its own TokenUser (it caches the row it may load)
            users.append(TokenUser(remembered[key].pk))
        elif key in active:
            users.append(TokenUser(active[key].pk))
        else:
            users.append(found.get(key) or AnonymousUser())
    return users


user_for_token: Batcher[str, Any] = Batcher(users_for_tokens)


@database_sync_to_async
def user_for_session(session_key: str):
    # Django's own check, as for a request: the session's user, if its password hash still matches.
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]


class SocketAuthMiddleware:
    """ASGI: ``scope["user"]`` (and ``scope["auth_token"]``) from ``?token=``, else from the session cookie."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        opening = connect_gate.enter(settings.CHAT_CONNECT_WAIT_MAX_MS, settings.CHAT_CONNECT_OPENING_MAX)
        if opening is None:
            accept_pause.refused()
            return await refuse_for_now(receive, send)
        try:
            key = token_from_query(scope)
            if key is not None:
                user = await user_for_token(key)
            else:
                session_key = session_key_from_cookie(scope)
                user = await user_for_session(session_key) if session_key else AnonymousUser()
            # The consumer calls opening.done() once it sent ``ready``. URLRouter handed this
            # layer a copy of the scope of its own: filled in, not copied again (every copy
            # lives as long as the socket).
            scope.update(user=user, auth_token=key, opening=opening)
            return await self.app(scope, receive, send)
        finally:
            opening.done()


async def refuse_for_now(receive, send) -> None:
    """The process is behind with the sockets it is opening (common/connect_gate.py): 1013, before any work.

    Accepted first, as a 4401 is, so that every client can read the code.
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
