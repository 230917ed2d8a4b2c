"""The realtime task's work: a batch of accepted messages reaches both users' sockets.

One batch, whatever its size: one query loads it, one Redis pipeline
re-applies the copies (only when the accepting process may not have written
them), one reads the push markers, the sender profiles and the recipients'
unread counts, one group_send per user reached (all concurrent), one
statement indexes the batch for search (messaging/search_index.py), one
statement marks the batch done. Idempotent: a re-run after a crash or by the
sweeper pushes nothing twice that was marked pushed, and re-applies copies
that cannot move backwards (docs/architecture.md).
"""

import time
from collections import defaultdict

from django.db import connection

from chat_project.common import push
from chat_project.common.redis_client import Reads
from chat_project.common.sql import marks
from profiles.services import queue_profiles
from unread.services import counter_copies, queue_unread_frames
from webpush.services import Notification
from webpush.tasks import notify_offline

from . import search_index, store
from .attachments import attachments_of, attachments_summary
from .ids import id_floor_for_time
from .models import MessageRecord, MessageStatus
from .payloads import message_dicts
from .projection import project_messages


def fan_out_batch(msg_ids: list[int], projected: bool = False) -> int:
    """Push the batch's frames and mark it done; returns how many messages were pushed."""
    records = _unfinished(msg_ids)
    if not records:
        return 0
    if not projected:
        project_messages(records, counter_copies({(r.session_id, r.recipient_id) for r in records}))
    # One round trip reads all the pushes need: which messages were pushed
    # already (a re-run), the senders' profiles, the recipients' unread
    # frames (read at push time, so a late fan-out still tells the current
    # count). For a re-run's pushed messages these reads are wasted.
    msg_ids = [r.msg_id for r in records]
    reads = Reads()
    pushed_reads = reads.add(store.queue_pushed_reads, msg_ids)
    profiles = queue_profiles(reads, (r.sender_id for r in records))
    unread_frames = queue_unread_frames(reads, ((r.recipient_id, r.session_id) for r in records))
    reads.execute()
    pushed = store.parse_pushed_reads(msg_ids, reads[pushed_reads])
    to_push = [r for r in records if not pushed[r.msg_id]]
    if to_push:
        senders = profiles()
        frames = _frames(to_push, senders, unread_frames())
        seqs = store.next_push_seqs(list(frames))
        push.send(push.to_user(user_id, user_frames, seqs[user_id]) for user_id, user_frames in frames.items())
        # Recipients with no socket when the message arrived: Web Push, on its own queue.
        notify_offline(_notifications(to_push, senders))
        store.mark_pushed([r.msg_id for r in to_push])
    # Before the mark: search reads messages not yet done from their rows, these from the index.
    search_index.index_messages(
        (r.msg_id, r.sender_id, r.recipient_id, r.content) for r in records if r.record_status == MessageStatus.NORMAL
    )
    done = [r.msg_id for r in records]
    _mark_done(done)
    store.retire_push_markers(done)
    return len(to_push)


# The batch is read and marked done in SQL written out, not built by the ORM:
# at chat rates every task is a batch of one, and building and compiling
# these two querysets was about a third of a pool process's CPU (py-spy
# --gil, docs/benchmarks.md). The row still becomes a model, with its
# fields' conversions (reactions' JSON, the datetimes).
_TABLE = MessageRecord._meta.db_table


def _unfinished(msg_ids: list[int]) -> list[MessageRecord]:
    sql = f"SELECT * FROM {_TABLE} WHERE msgId IN ({marks(msg_ids)}) AND fan_out_done = 0 ORDER BY msgId"
    return list(MessageRecord.objects.raw(sql, msg_ids))


def _mark_done(msg_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_TABLE} SET fan_out_done = 1 WHERE msgId IN ({marks(msg_ids)})", msg_ids)


def _frames(
    records: list[MessageRecord], senders: dict[int, dict], unread: dict[tuple[int, int], dict]
) -> dict[int, list[dict]]:
    """Per user, in msg_id order: each message (to both users), then the recipients' unread counts."""
    frames: dict[int, list[dict]] = defaultdict(list)
    for record, message in zip(records, message_dicts(records), strict=True):
        # ``sender`` is an extension of the message frame: the recipient's UI
        # can show a new peer without fetching the profile.
        frame = {"type": "message", "message": message, "sender": senders.get(record.sender_id)}
        frames[record.recipient_id].append(frame)
        frames[record.sender_id].append(frame)
    for recipient_id, conversation_id in dict.fromkeys((r.recipient_id, r.session_id) for r in records):
        frames[recipient_id].append(unread[recipient_id, conversation_id])
    return frames


def _notifications(records: list[MessageRecord], senders: dict[int, dict]) -> list[Notification]:
    wanted = [r for r in records if r.offline and r.record_status == MessageStatus.NORMAL]
    # A message of attachments only is previewed by what it carries ("📷 Photo"), not by an empty text.
    files = attachments_of(r.msg_id for r in wanted if not r.content and r.attachment_count)
    return [
        Notification(
            recipient_id=r.recipient_id,
            conversation_id=r.session_id,
            msg_id=r.msg_id,
            sender_id=r.sender_id,
            sender_nickname=_display_name(senders.get(r.sender_id)),
            content=r.content or attachments_summary(files.get(r.msg_id, [])),
        )
        for r in wanted
    ]


def unfinished_fan_out(older_than_seconds: float, limit: int) -> list[int]:
    cutoff = id_floor_for_time(time.time() - older_than_seconds)
    return list(
        MessageRecord.objects.filter(fan_out_done=False, msg_id__lt=cutoff)
        .order_by("msg_id")
        .values_list("msg_id", flat=True)[:limit]
    )


def _display_name(profile: dict | None) -> str:
    if not profile:
        return ""
    return profile.get("nickname") or profile.get("username") or ""
