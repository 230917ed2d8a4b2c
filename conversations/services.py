"""The per-user conversation list, access to one conversation, and its read receipts."""

import logging
from typing import cast

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from chat_project.common.errors import NotFound
from chat_project.common.redis_client import Reads, get_redis
from profiles import blocks
from profiles import store as profile_store
from profiles.services import complete_profile_fields, profile_from_fields
from unread import store as unread_store
from unread.services import rebuild_unread, unread_counts_in

from . import conversation_settings as settings_service
from . import hooks, store
from .inputs import ConversationSettings
from .models import Conversation
from .tasks import rebuild_list_state

logger = logging.getLogger(__name__)


def get_or_create_conversation(user_a: int, user_b: int) -> Conversation:
    low, high = sorted((user_a, user_b))
    conversation = Conversation.objects.filter(user_low_id=low, user_high_id=high).first()
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(user_low_id=low, user_high_id=high)
    except IntegrityError:
        # Both users sent their first message at the same moment.
        return Conversation.objects.get(user_low_id=low, user_high_id=high)


def get_conversation_for(user_id: int, conversation_id: int) -> Conversation:
    """The conversation if ``user_id`` takes part in it; otherwise not_found, revealing nothing."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id).filter(Q(user_low_id=user_id) | Q(user_high_id=user_id)).first()
    )
    if conversation is None or conversation.last_msg_id is None:
        raise NotFound("No such conversation.")
    return conversation


def get_conversation_with(user_id: int, peer_id: int) -> Conversation:
    """The conversation of ``user_id`` with ``peer_id`` once they have exchanged a message; otherwise not_found.

    An unknown user, and the user themself, are simply users with whom no
    message was exchanged: the answer reveals nothing about who exists.
    """
    low, high = sorted((user_id, peer_id))
    conversation = None
    if low != high:
        conversation = Conversation.objects.filter(user_low_id=low, user_high_id=high).first()
    if conversation is None or conversation.last_msg_id is None:
        raise NotFound("No such conversation.")
    return conversation


def shares_conversation(user_a: int, user_b: int) -> bool:
    """True when the two (different) users have exchanged a message."""
    low, high = sorted((user_a, user_b))
    return (
        low != high
        and Conversation.objects.filter(user_low_id=low, user_high_id=high, last_msg_id__isnull=False).exists()
    )


def rebuild_conversation_list(user_id: int) -> None:
    """The user's list and peers from the database, merged into Redis."""
    store.write_user_lists(user_id, _list_entries([user_id])[user_id])


def rebuild_conversation_lists(user_ids: list[int]) -> dict[int, dict[int, int]]:
    """``rebuild_conversation_list`` for a batch of users, without the read receipts (the caller's).

    Returns {user: {conversation_id: peer_id}}.
    """
    entries = _list_entries(user_ids)
    store.write_many_user_lists(entries)
    return {user_id: {cid: peer for cid, peer, _ in rows} for user_id, rows in entries.items()}


def _list_entries(user_ids: list[int]) -> dict[int, list[tuple[int, int, int]]]:
    """{user: [(conversation_id, peer_id, last_msg_id)]} of the conversations with a message.

    One statement, two range scans that the list indexes answer alone
    (``UNION ALL``, never an ``OR`` across the two columns: an index merge
    reads every row from the table).
    """
    entries: dict[int, list[tuple[int, int, int]]] = {user_id: [] for user_id in user_ids}
    low_side = Conversation.objects.filter(user_low_id__in=user_ids, last_msg_id__isnull=False).values_list(
        "pk", "user_low_id", "user_high_id", "last_msg_id"
    )
    high_side = Conversation.objects.filter(user_high_id__in=user_ids, last_msg_id__isnull=False).values_list(
        "pk", "user_high_id", "user_low_id", "last_msg_id"
    )
    for cid, user_id, peer_id, last in low_side.union(high_side, all=True):
        entries[user_id].append((cid, peer_id, cast(int, last)))
    return entries


def list_conversations(user_id: int, limit: int, before: int | None, archived: bool = False) -> dict:
    """A page of the user's conversations, newest last message first (PROTOCOL.md 1.2 settings applied).

    Without ``before``: the pinned conversations first (newest first, on top of
    ``limit`` others), then the newest others; ``before`` pages through the
    unpinned ones. Archived conversations are left out; ``archived`` lists
    only them. Warm path: four pipelined Redis round trips (the settings, the
    page, then the page's pieces) and no SQL whatever the page size. Cold
    pieces (after a Redis flush) are refilled from the database: the list
    itself, the settings, the unread hash, missing last messages and profiles.
    """
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.exists(store.ready_key(user_id))
    store.queue_settings_reads(pipe, user_id)
    ready, *settings_replies = pipe.execute()
    if not ready:
        rebuild_conversation_list(user_id)
    settings = user_settings(user_id, settings_replies)
    archived_ids = {cid for cid, s in settings.items() if s.archived}
    pinned_ids = {cid for cid, s in settings.items() if s.pinned and not s.archived}
    if archived:
        listed = sorted(store.scores(user_id, sorted(archived_ids)).items(), key=lambda item: -item[1])
        rows = [(cid, score) for cid, score in listed if before is None or score < before]
        pinned: list[tuple[int, int]] = []
    else:
        pipe = client.pipeline(transaction=False)
        # Over-fetch by the conversations left out, so that a page is still full.
        store.queue_page_read(pipe, user_id, limit + len(archived_ids | pinned_ids), before)
        _, page = pipe.execute()
        rows = [(int(m), int(s)) for m, s in page if int(m) not in archived_ids and int(m) not in pinned_ids]
        pinned = []
        if before is None and pinned_ids:
            pinned = sorted(store.scores(user_id, sorted(pinned_ids)).items(), key=lambda item: -item[1])
    has_more = len(rows) > limit
    rows = pinned + rows[:limit]
    if not rows:
        return {"results": [], "next_before": None}
    ids = [cid for cid, _ in rows]
    last_ids = dict(rows)
    conversations = _assemble(user_id, ids, last_ids, settings)
    next_before = rows[-1][1] if has_more else None
    return {"results": conversations, "next_before": next_before}


def user_settings(user_id: int, replies: list | None = None) -> dict[int, store.Setting]:
    """The user's conversation settings (only those changed from the defaults), cached or rebuilt."""
    if replies is None:
        pipe = get_redis().pipeline(transaction=False)
        store.queue_settings_reads(pipe, user_id)
        replies = pipe.execute()
    version, settings = store.parse_settings_reads(replies)
    if settings is None:
        settings = settings_service.rebuild_settings(user_id, version)
    return settings


def conversation_view(user_id: int, conversation: Conversation) -> dict:
    # cast: get_conversation_for/_with answer only conversations with a last message.
    last_ids = {conversation.pk: cast(int, conversation.last_msg_id)}
    return _assemble(user_id, [conversation.pk], last_ids, user_settings(user_id))[0]


def update_conversation(user_id: int, conversation_id: int, changes: ConversationSettings) -> dict:
    """``PATCH conversations/{id}`` (PROTOCOL.md 1.2): the requester's settings of it; the Conversation."""
    conversation = get_conversation_for(user_id, conversation_id)
    settings_service.update_settings(user_id, conversation.pk, changes)
    return conversation_view(user_id, conversation)


def _assemble(user_id: int, ids: list[int], last_ids: dict[int, int], settings: dict[int, store.Setting]) -> list[dict]:
    reads = Reads()
    peers_and_lasts = reads.add(store.queue_peer_and_last_reads, user_id, ids)
    # Only the page's counters: a user with thousands of conversations read and
    # parsed every one of them on every page (docs/benchmarks.md, "The heavy list").
    unread_counts = reads.add(unread_store.queue_page_reads, user_id, ids)
    peer_reads = reads.add(store.queue_peer_read_reads, user_id, ids)
    block_reads = reads.add(profile_store.queue_block_reads, user_id)
    list_size = reads.add(store.queue_list_size, user_id)
    reads.execute()
    peers, lasts = store.parse_peer_and_last(ids, reads[peers_and_lasts])
    if any(peer is None for peer in peers.values()):
        rebuild_conversation_list(user_id)
        fix = Conversation.objects.filter(pk__in=[cid for cid, p in peers.items() if p is None])
        peers.update({c.pk: c.peer_id(user_id) for c in fix})
    peer_of = {cid: peer for cid, peer in peers.items() if peer is not None}  # all of them, after the refill
    stale = [cid for cid, last in lasts.items() if last is None or last["msg_id"] < last_ids[cid]]
    if stale:
        lasts.update(_load_last_messages({cid: last_ids[cid] for cid in stale}))
    unread = unread_store.parse_page_reads(ids, reads[unread_counts])
    peer_read = store.parse_peer_read_reads(ids, reads[peer_reads])
    if unread is None or peer_read is None:
        unread, peer_read = _cold_counts(user_id, ids, unread, peer_read, store.parse_list_size(reads[list_size]))

    blocks_version, relations = profile_store.parse_block_reads(reads[block_reads])
    if relations is None:
        relations = blocks.rebuild_blocks(user_id, blocks_version)
    blocking, blocked_by = relations

    peer_list = list(dict.fromkeys(peer_of.values()))
    reads = Reads()
    cached_profiles = reads.add(profile_store.queue_profile_reads, peer_list)
    online_flags = reads.add(profile_store.queue_online_reads, peer_list)
    reads.execute()
    fields = complete_profile_fields(profile_store.parse_profile_reads(peer_list, reads[cached_profiles]))
    online = profile_store.parse_online_reads(peer_list, reads[online_flags])
    return [
        {
            "conversation_id": cid,
            "peer": blocks.profile_for(
                user_id, profile_from_fields(peer_of[cid], fields[peer_of[cid]], online[peer_of[cid]]), relations
            ),
            "last_message": lasts.get(cid),
            "unread": unread.get(cid, 0),
            "peer_read_up_to": peer_read.get(cid),
            # Version 1.2: either of the two blocks the other; the requester's settings.
            "blocked": peer_of[cid] in blocking or peer_of[cid] in blocked_by,
            **settings.get(cid, store.DEFAULT_SETTING)._asdict(),
        }
        for cid in ids
    ]


def _cold_counts(
    user_id: int, ids: list[int], unread: dict[int, int] | None, peer_read: dict[int, int] | None, list_size: int
) -> tuple[dict[int, int], dict[int, int]]:
    """The page's unread counts and read receipts when Redis lacks the user's (after a flush).

    A user with few conversations gets them all rebuilt at once. For one with
    thousands, that is two reads of thousands of rows scattered over the
    tables, most of a second with a small buffer pool: the page's come from
    the database instead (a few dozen rows), and a task on the delayed queue
    rebuilds the rest (``tasks.rebuild_list_state``). The database is the
    truth either way, so the page is exact; the next pages read the database
    too until the task is done.
    """
    if list_size <= django_settings.CHAT_LIST_INLINE_REBUILD:
        return (
            unread if unread is not None else rebuild_unread(user_id),
            peer_read if peer_read is not None else hooks.message_reads().rebuild_peer_reads(user_id),
        )
    if unread is None:
        unread = unread_counts_in(user_id, ids)
    if peer_read is None:
        peer_read = hooks.message_reads().peer_reads_in(user_id, ids)
    _rebuild_later(user_id)
    return unread, peer_read


def _rebuild_later(user_id: int) -> None:
    """Queue the rebuild of the user's counters and receipts, once until it is done (a claim in Redis)."""
    try:
        if store.claim_list_rebuild(user_id):
            rebuild_list_state.delay(user_id)
    except Exception:
        # The page is answered from the database all the same. A claim left behind
        # by a failed queueing expires (store.LIST_REBUILD_CLAIM_SECONDS), then a page claims again.
        logger.warning("could not queue the rebuild of user %s's list state", user_id, exc_info=True)


def _load_last_messages(last_ids: dict[int, int]) -> dict[int, dict]:
    found = hooks.message_reads().messages_by_id(list(last_ids.values()))
    store.add_recent(list(found.values()))
    return {cid: found[msg_id] for cid, msg_id in last_ids.items() if msg_id in found}
