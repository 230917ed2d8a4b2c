"""Rebuild Redis from the database, the durable truth (DESIGN.md).

Lazy: each reader rebuilds a user's structure when its ``ready`` marker is
missing (after a flush or a restart of Redis). Eager: the ``rebuild_redis``
command drops every structure key and rebuilds all users.
"""

from django.conf import settings

from chat_project.common.redis_client import get_redis
from conversations.services import rebuild_conversation_list
from profiles.models import User
from unread.services import rebuild_unread

from .offline import rebuild_offline

# Key families of the data structures; rate-limit windows, id-worker leases
# push markers and the cache are left alone.
_FAMILIES = ("{u:*", "{c:*", "{p:*")


def drop_structures() -> int:
    client = get_redis()
    removed = 0
    for family in _FAMILIES:
        batch = []
        for name in client.scan_iter(match=f"{settings.CHAT_REDIS_PREFIX}:{family}", count=1000):
            if name.endswith(":sockets"):
                continue  # presence is live state, not derived from the database
            batch.append(name)
            if len(batch) >= 500:
                removed += _delete(client, batch)
                batch = []
        removed += _delete(client, batch)
    return removed


def _delete(client, names: list[str]) -> int:
    if not names:
        return 0
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.delete(name)
    return sum(pipe.execute())


def rebuild_user(user_id: int) -> None:
    rebuild_conversation_list(user_id)
    rebuild_unread(user_id)
    rebuild_offline(user_id)


def rebuild_everything() -> tuple[int, int]:
    removed = drop_structures()
    count = 0
    for user_id in User.objects.values_list("pk", flat=True).iterator(chunk_size=1000):
        rebuild_user(user_id)
        count += 1
    return count, removed
