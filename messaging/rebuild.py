"""Rebuild Redis from the database, the durable truth (DESIGN.md).

Lazy: each reader rebuilds a user's structure when its ``ready`` marker is
missing (after a flush or a restart of Redis). Eager: the ``rebuild_redis``
command drops every structure key and rebuilds all users, in batches of
users by id (a few queries and one Redis round trip per app and batch).

It is resumable: a progress key (``messaging.store.rebuild_progress_key``)
says "drop" while the keys are dropped, then holds the last user id of the
last batch rebuilt, and is deleted at the end. A run that finds it continues
where the interrupted one stopped (without dropping again: the users rebuilt
so far are kept up to date by the writes since, and the others rebuild
lazily meanwhile); ``restart`` starts over. Rebuilding a user merges, so a
batch done twice, or a user rebuilt lazily meanwhile, ends the same.
"""

from collections.abc import Callable
from dataclasses import dataclass

from chat_project.common.redis_client import delete_matching
from conversations import store as conversation_store
from conversations.services import rebuild_conversation_lists
from profiles import store as profile_store
from profiles.models import User
from unread import store as unread_store
from unread.services import rebuild_unread_many

from . import store as messaging_store
from .offline import rebuild_offline_many
from .reads import rebuild_peer_reads_many

BATCH = 500


def drop_structures() -> int:
    """Drop what each app derives from the database (its ``store.DERIVED_KEY_PATTERNS``), in one SCAN."""
    stores = (profile_store, unread_store, conversation_store, messaging_store)
    return delete_matching(pattern for store in stores for pattern in store.DERIVED_KEY_PATTERNS)


def rebuild_users(user_ids: list[int]) -> None:
    """Each app rebuilds the batch's structures it owns, each app's rows of all of them at once.

    (Profiles refill their cache when read.)
    """
    peers = rebuild_conversation_lists(user_ids)
    rebuild_peer_reads_many(peers)
    rebuild_unread_many(user_ids)
    rebuild_offline_many(user_ids)


@dataclass
class Rebuilt:
    users: int = 0
    removed: int = 0
    resumed_after: int | None = None  # the last user id an interrupted run had rebuilt
    finished: bool = False


def rebuild_everything(
    batch: int = BATCH,
    restart: bool = False,
    stop_after: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Rebuilt:
    """Drop and rebuild every user's structures, or continue an interrupted run.

    ``stop_after``: stop (as if interrupted) once that many users are rebuilt.
    ``progress(users rebuilt, last user id)`` is called after every batch.
    """
    done = Rebuilt()
    state = None if restart else messaging_store.rebuild_progress()
    if state is None or state == "drop":
        messaging_store.set_rebuild_progress("drop")
        done.removed = drop_structures()
        after = 0
        messaging_store.set_rebuild_progress(after)
    else:
        after = done.resumed_after = int(state)
    while True:
        ids = list(User.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        rebuild_users(ids)
        after = ids[-1]
        messaging_store.set_rebuild_progress(after)
        done.users += len(ids)
        if progress is not None:
            progress(done.users, after)
        if stop_after is not None and done.users >= stop_after:
            return done
    messaging_store.set_rebuild_progress(None)
    done.finished = True
    return done
