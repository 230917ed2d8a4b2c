"""Under ASGI the middleware chain runs in sync mode: one thread hop per request (chat_project/middleware.py)."""

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

pytestmark = pytest.mark.unit


def test_the_asgi_application_runs_every_middleware_in_sync_mode():
    import chat_project.asgi  # noqa: F401 - what daphne loads; it sets the flags before building the handler

    # One async-capable middleware would make Django run the chain in async
    # mode again, with a hop into the request's thread for each of its hooks.
    still_async = [path for path in settings.MIDDLEWARE if getattr(import_string(path), "async_capable", True)]
    assert still_async == []
    # The settings keep Django's own paths (check --deploy and the admin look for them).
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
