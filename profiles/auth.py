"""API token authentication that answers from Redis on the warm path.

DRF's TokenAuthentication reads the token and its user from the database on
every request; under ASGI each request runs in a thread of its own, so that
one query also opens a database connection. Here an active user's token is
remembered in Redis (profiles/store.py) and the request's user is a
``TokenUser``: its id at hand, the rest of the row loaded only if a view
needs it (``GET me``, ``PATCH me``). A deleted token or a deactivated user is
forgotten at once (profiles/signals.py).
"""

import logging

from redis.exceptions import RedisError
from rest_framework.authentication import TokenAuthentication

from . import store
from .models import User

logger = logging.getLogger(__name__)


class TokenUser:
    """The user behind a remembered token: ``pk`` without a query, any other attribute from the row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True  # only active users' tokens are remembered

    def __init__(self, user_id: int) -> None:
        object.__setattr__(self, "pk", user_id)
        object.__setattr__(self, "id", user_id)
        object.__setattr__(self, "_user", None)

    def _load(self) -> User:
        if self._user is None:
            object.__setattr__(self, "_user", User.objects.get(pk=self.pk))
        return self._user

    def __getattr__(self, name: str):
        return getattr(self._load(), name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._load(), name, value)

    def __eq__(self, other) -> bool:
        return getattr(other, "pk", None) == self.pk and isinstance(other, TokenUser | User)

    def __hash__(self) -> int:
        return hash(self.pk)

    def __str__(self) -> str:
        return f"user {self.pk}"


def remembered_token_user(key: str) -> TokenUser | None:
    """The user of a remembered token; None when it is not remembered, or Redis is down (ask the database)."""
    try:
        user_id = store.cached_token_user(key)
    except RedisError:
        return None
    return TokenUser(user_id) if user_id is not None else None


def remember_token_user(key: str, user: User) -> None:
    """After the database said ``key`` is a token of ``user``, an active user."""
    try:
        store.cache_token_user(key, user.pk)
    except RedisError:
        logger.warning("could not remember a token of user %s", user.pk)


def remembered_token_users(keys: list[str]) -> dict[str, TokenUser]:
    """``remembered_token_user`` of several tokens in one round trip: the remembered ones (none if Redis is down)."""
    try:
        user_ids = store.cached_token_users(keys)
    except RedisError:
        return {}
    return {key: TokenUser(user_id) for key, user_id in user_ids.items()}


def remember_token_users(users: dict[str, User]) -> None:
    """``remember_token_user`` of several tokens in one round trip."""
    try:
        store.cache_token_users({key: user.pk for key, user in users.items()})
    except RedisError:
        logger.warning("could not remember the tokens of %d user(s)", len(users))


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        remembered = remembered_token_user(key)
        if remembered is not None:
            return remembered, key
        user, token = super().authenticate_credentials(key)  # refuses unknown tokens and inactive users
        remember_token_user(key, user)
        return user, token
