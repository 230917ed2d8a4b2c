"""A consumer that daphne kills still leaves its groups.

daphne cancels a consumer whose client left ``application_close_timeout``
seconds earlier and which has not finished (a reconnect storm: the
disconnect waits behind the connects). The cancelled consumer used to keep
its memberships, and with the pub/sub layer its process's subscription to
the user's group, for the process's life. Here the app's Redis stops
answering (a relay that holds the bytes) while a heartbeat is in flight: the
disconnect waits for that beat, and daphne (``--application-close-timeout
1``) kills it first.
"""

import time
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from chat_project.common.push import user_group

from .conftest import wait_for
from .live import FreezingProxy

pytestmark = pytest.mark.e2e


def test_a_consumer_killed_by_daphne_leaves_its_user_group(start_daphne, make_user):
    app_redis = urlsplit(settings.CHAT_REDIS_URL)
    proxy = FreezingProxy((app_redis.hostname or "127.0.0.1", app_redis.port or 6379))
    layer = redis.Redis.from_url(settings.CHAT_CHANNEL_LAYER_URL)
    try:
        server = start_daphne(
            args=("--application-close-timeout", "1"),
            CHAT_REDIS_URL=f"redis://127.0.0.1:{proxy.port}{app_redis.path}",
            CHAT_HEARTBEAT_SECONDS="1",
        )
        user = make_user("killed")
        group = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{user_group(user.id)}"

        def subscribers() -> int:
            return dict(layer.pubsub_numsub(group)).get(group.encode(), 0)

        sock = server.socket(user.token)
        sock.expect("ready")
        assert subscribers() == 1
        proxy.frozen.set()
        time.sleep(1.5)  # a beat (every second) is now stuck on the silent Redis, for its 5 s timeout
        sock.close()  # the disconnect waits for that beat; daphne kills it after a second
        wait_for(lambda: "took too long to shut down and was killed" in daphne_log(server), timeout=10)
        wait_for(lambda: subscribers() == 0, timeout=5)
    finally:
        proxy.frozen.clear()
        proxy.close()
        layer.close()


def daphne_log(server) -> str:
    server.log.flush()
    with open(server.log.name) as log:
        return log.read()
