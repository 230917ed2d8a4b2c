"""Rebuild Redis from the database, the durable truth (DESIGN.md).

Lazy: each reader rebuilds a user's structure when its ``ready`` marker is
missing (after a flush or a restart of Redis). Eager: the ``rebuild_redis``
command drops every structure key and rebuilds all users.
"""

from chat_project.common.redis_client import delete_matching
from conversations import store as conversation_store
from conversations.services import rebuild_conversation_list
from profiles import store as profile_store
from profiles.models import User
from unread import store as unread_store
from unread.services import rebuild_unread

from . import store as messaging_store
from .offline import rebuild_offline


def drop_structures() -> int:
    """Drop what each app derives from the database (its ``store.DERIVED_KEY_PATTERNS``), in one SCAN."""
    stores = (profile_store, unread_store, conversation_store, messaging_store)
    return delete_matching(pattern for store in stores for pattern in store.DERIVED_KEY_PATTERNS)


def rebuild_user(user_id: int) -> None:
    """Each app rebuilds the user's structures it owns (profiles refill their cache when read)."""
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
