"""Settings for the test suite: the same real services, separate Redis databases.

Redis databases 10-12 keep the suite away from a running `make run` (0-2);
pytest-django creates its own MariaDB database (test_<name>).
"""

import os

os.environ.setdefault("CHAT_REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("CHAT_CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/12")
# Tests register many users from one address; the rate-limit tests switch
# the limits back on with the `settings` fixture.
os.environ.setdefault("CHAT_RATE_LIMITS", "off")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["TEST"]["NAME"] = "test_chat"  # noqa: F405
