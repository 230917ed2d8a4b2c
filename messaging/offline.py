"""Offline messages: what reached a user while no socket of theirs was connected.

The database's ``offline`` flag is the truth; ``messaging/store.py`` keeps the
per-user index in Redis, rebuilt from the flag when its marker is missing.
"""

from django.conf import settings

from profiles.blocks import block_relations, profile_for
from profiles.services import get_profiles

from . import store
from .inputs import OfflineAck
from .models import MessageRecord
from .payloads import attachments_by_message, message_dict, message_rows, quoted_messages


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
    """Messages that arrived while the user had no socket, grouped by sender, oldest group first."""
    ready, groups = store.read_pending(user_id, settings.CHAT_OFFLINE_PAGE)
    if not ready:
        rebuild_offline(user_id)
        _, groups = store.read_pending(user_id, settings.CHAT_OFFLINE_PAGE)
    wanted = set([msg_id for _, ids in groups for msg_id in ids][: settings.CHAT_OFFLINE_PAGE])
    if not wanted:
        return {"results": []}
    # The database decides: an entry acked meanwhile (or a stale copy) is dropped.
    records = {
        r.msg_id: r
        for r in message_rows(MessageRecord.objects.filter(msg_id__in=wanted, recipient_id=user_id, offline=True))
    }
    relations = block_relations(user_id)
    profiles = {
        sender_id: profile_for(user_id, profile, relations)
        for sender_id, profile in get_profiles([sender for sender, _ in groups]).items()
    }
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


def ack_offline(user_id: int, ack: OfflineAck) -> None:
    sender_id, up_to = ack.sender_id, ack.up_to
    MessageRecord.objects.filter(recipient_id=user_id, sender_id=sender_id, offline=True, msg_id__lte=up_to).update(
        offline=False
    )
    store.ack(user_id, sender_id, up_to)
