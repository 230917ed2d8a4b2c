"""Settings for the test suite: the same real services, isolated per run.

Each run (one pytest process and the daphne processes it starts) gets its own
MariaDB database ``test_chat_<run>`` (created and dropped by pytest-django)
and its own key prefixes in Redis databases 10-12, so a running `make run`
(databases 0-2) and a second `make test` on the same machine are untouched.
``CHAT_TEST_RUN`` names the run; it defaults to the pytest process id and is
inherited by the processes the tests start.
"""

import os

RUN = os.environ.setdefault("CHAT_TEST_RUN", str(os.getpid()))
os.environ.setdefault("CHAT_REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("CHAT_CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("CHAT_REDIS_PREFIX", f"test{RUN}")
os.environ.setdefault("CHAT_CHANNEL_PREFIX", f"asgi-test{RUN}")
os.environ.setdefault("CELERY_BROKER_PREFIX", f"test{RUN}:")
# Uploaded avatars of this run, never in the project's media folder.
os.environ.setdefault("CHAT_MEDIA_ROOT", f"/tmp/chat-test-media-{RUN}")  # noqa: S108 - test uploads, one run's
# Tests register many users from one address; the rate-limit tests switch
# the limits back on with the `settings` fixture.
os.environ.setdefault("CHAT_RATE_LIMITS", "off")
# Web Push never reaches outside this machine from a test: no outside name is
# resolved, no push is POSTed but to loopback (schemathesis makes up endpoints).
os.environ.setdefault("CHAT_WEBPUSH_LOCAL_ONLY", "on")
# Many tests queue fan-out with no worker running and start one later: its
# first batches are seconds old, which would refuse the sends that follow
# for a moment (messaging/admission.py). The overload tests switch it on.
os.environ.setdefault("CHAT_FAN_OUT_LAG_MAX_MS", "0")
# Likewise a test machine's daphne may read frames late for reasons of its
# own (other test runs on two cores); tests/test_overload.py switches it on.
os.environ.setdefault("CHAT_FRAME_WAIT_MAX_MS", "0")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["TEST"]["NAME"] = f"test_chat_{RUN}"  # noqa: F405

# Every Redis key this run may write, per Redis URL: tests clear these, never
# a whole database that another run may be using.
TEST_REDIS_PATTERNS = {
    CHAT_REDIS_URL: f"{CHAT_REDIS_PREFIX}:*",  # noqa: F405
    CELERY_BROKER_URL: f"test{RUN}:*",  # noqa: F405
    CHAT_CHANNEL_LAYER_URL: f"asgi-test{RUN}*",  # noqa: F405
}
