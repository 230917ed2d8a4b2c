"""The conversation list's background work (the delayed queue)."""

from celery import shared_task

from chat_project.common.redis_client import get_redis
from unread import store as unread_store
from unread.services import rebuild_unread

from . import hooks, store


@shared_task(ignore_result=True)
def rebuild_list_state(user_id: int) -> None:
    """Rebuild the unread counters and read receipts a cold list page of the user read from the database.

    Queued by ``services._cold_counts`` for a user with many conversations,
    under a claim that this releases. Each rebuild merges and is skipped if
    another reader rebuilt it meanwhile; run twice, it ends the same.
    """
    pipe = get_redis().pipeline(transaction=False)
    pipe.exists(unread_store.ready_key(user_id))
    pipe.exists(store.peer_read_ready_key(user_id))
    unread_ready, peer_read_ready = pipe.execute()
    if not unread_ready:
        rebuild_unread(user_id)
    if not peer_read_ready:
        hooks.message_reads().rebuild_peer_reads(user_id)
    store.release_list_rebuild(user_id)
