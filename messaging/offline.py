"""Offline messages: what reached a user while no socket of theirs was connected.

The database's ``offline`` flag is the truth; ``messaging/store.py`` keeps the
per-user index in Redis, rebuilt from the flag when its marker is missing.
"""

from django.conf import settings
from django.db import connection

from chat_project.common.redis_client import Reads
from chat_project.common.sql import marks
from profiles.blocks import profile_for, queue_block_relations
from profiles.services import queue_profiles

from . import store
from .inputs import OfflineAck
from .models import MessageRecord
from .payloads import MessageRow, attachments_by_message, message_columns, message_dict, quoted_messages, rows_from

_TABLE = MessageRecord._meta.db_table


def rebuild_offline(user_id: int) -> None:
    pending: dict[int, list[int]] = {}
    for sender_id, msg_id in (
        MessageRecord.objects.filter(recipient_id=user_id, offline=True)
        .order_by("msg_id")
        .values_list("sender_id", "msg_id")
    ):
        pending.setdefault(sender_id, []).append(msg_id)
    store.write_all(user_id, pending)


def rebuild_offline_many(user_ids: list[int]) -> None:
    """``rebuild_offline`` for a batch of recipients: one query, one round trip."""
    pending: dict[int, dict[int, list[int]]] = {user_id: {} for user_id in user_ids}
    for recipient_id, sender_id, msg_id in MessageRecord.objects.filter(
        recipient_id__in=user_ids, offline=True
    ).values_list("recipient_id", "sender_id", "msg_id"):
        pending[recipient_id].setdefault(sender_id, []).append(msg_id)
    store.write_many(pending)


def offline_messages(user_id: int) -> dict:
    """Messages that arrived while the user had no socket, grouped by sender, oldest group first.

    Two Redis round trips: the pending index with the user's blocks, then the
    groups with their senders' profiles (and presence).
    """
    limit = settings.CHAT_OFFLINE_PAGE
    first = Reads()
    index = first.add(store.queue_pending_index_reads, user_id)
    relations = queue_block_relations(first, user_id)
    first.execute()
    ready, senders = store.parse_pending_index(first[index])
    if not ready:
        rebuild_offline(user_id)
        _, senders = store.parse_pending_index(_read(store.queue_pending_index_reads, user_id))
    if not senders:
        return {"results": []}
    second = Reads()
    pending = second.add(store.queue_pending_group_reads, user_id, senders, limit)
    sender_profiles = queue_profiles(second, senders)
    second.execute()
    groups = store.parse_pending_groups(senders, second[pending])
    wanted = set([msg_id for _, ids in groups for msg_id in ids][:limit])
    if not wanted:
        return {"results": []}
    # The database decides: an entry acked meanwhile (or a stale copy) is dropped.
    records = {r.msg_id: r for r in _pending_rows(user_id, sorted(wanted))}
    blocks = relations()
    profiles = {sender_id: profile_for(user_id, profile, blocks) for sender_id, profile in sender_profiles().items()}
    quoted = quoted_messages(list(records.values()))
    attached = attachments_by_message(list(records.values()))
    results = []
    for sender_id, ids in groups:
        stale = [m for m in ids if m not in records and m in wanted]
        if stale:
            store.remove(user_id, sender_id, stale)
        messages = [message_dict(records[m], quoted, attached) for m in ids if m in records]
        if messages and sender_id in profiles:
            results.append({"sender": profiles[sender_id], "messages": messages})
    return {"results": results}


def _read(queue, *args) -> list:
    reads = Reads()
    slot = reads.add(queue, *args)
    reads.execute()
    return reads[slot]


def _pending_rows(user_id: int, msg_ids: list[int]) -> list[MessageRow]:
    """The messages still owed to the user among ``msg_ids``, in SQL written out as ``sync``'s (no ORM to build)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {message_columns('m')} FROM {_TABLE} m"
            f" WHERE m.msgId IN ({marks(msg_ids)}) AND m.recipient_id = %s AND m.offline = 1",
            [*msg_ids, user_id],
        )
        return rows_from(cursor.fetchall())


def ack_offline(user_id: int, ack: OfflineAck) -> None:
    sender_id, up_to = ack.sender_id, ack.up_to
    MessageRecord.objects.filter(recipient_id=user_id, sender_id=sender_id, offline=True, msg_id__lte=up_to).update(
        offline=False
    )
    store.ack(user_id, sender_id, up_to)
