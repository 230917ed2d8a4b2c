"""Logging in and registering: the services behind ``auth/token``, ``auth/register`` and the login and sign-up pages.

Each holds its own rate limit per client address (``CHAT_LOGIN_RATE``,
``CHAT_REGISTER_RATE``): one budget per address for the REST endpoint and
its page together. The attempt is counted first, before its input is even
read, so a body that does not parse (or a form with a field missing) counts
too. That is why the input may be given as a function that reads it (a body
parsed with ``profiles.inputs``, a page's form): the service calls it once
the attempt is counted.
"""

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.backends import AllowAllUsersModelBackend

from chat_project.common.errors import ChatError
from chat_project.common.ratelimit import check_rate

from . import services
from .inputs import Login, Register
from .models import User

T = TypeVar("T")


class NotAuthenticated(ChatError):
    code = "not_authenticated"
    status = 401
    default_detail = "Wrong username or password."


class AccountDeactivated(NotAuthenticated):
    """The right password of a deactivated account; raised only when the caller asks to tell it apart."""

    default_detail = "This account is deactivated."


def _read(value: T | Callable[[], T]) -> T:
    return value() if callable(value) else value


def log_in(
    request,
    credentials: Login | Callable[[], Login],
    *,
    client_ip: str,
    tell_deactivated: bool = False,
) -> User:
    """The user the credentials name, once the attempt is counted against ``client_ip``'s login budget.

    Raises RateLimited (over the budget: nothing is read), InvalidInput (from
    reading the credentials), or NotAuthenticated for a wrong username or
    password or a deactivated account. ``tell_deactivated`` (the login page):
    a deactivated account's right password raises AccountDeactivated instead;
    the password is then checked a second time, purely to choose the message:
    the user is never logged in. The API does not tell the two apart.
    ``request`` (or None) goes to the authentication backends and signals.
    """
    check_rate("login", client_ip, settings.CHAT_LOGIN_RATE)
    login = _read(credentials)
    user = authenticate(request, username=login.username, password=login.password)
    if user is not None:
        return user
    if tell_deactivated and login.username and login.password:
        # ModelBackend refuses inactive users: ask again with the semantics that do not.
        found = AllowAllUsersModelBackend().authenticate(request, username=login.username, password=login.password)
        if found is not None and not found.is_active:
            raise AccountDeactivated()
    raise NotAuthenticated()


def register(data: Register | Callable[[], Register], *, client_ip: str) -> tuple[User, str]:
    """A new account and its API token, once the attempt is counted against ``client_ip``'s register budget.

    Raises RateLimited (over the budget: nothing is read) or InvalidInput (from
    reading ``data``, a rejected password, a taken username).
    """
    check_rate("register", client_ip, settings.CHAT_REGISTER_RATE)
    account = _read(data)
    return services.register_user(account.username, account.password, account.nickname)
