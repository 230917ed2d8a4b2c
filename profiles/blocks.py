"""Blocking (PROTOCOL.md 1.2): while either of two users blocks the other, nothing passes between them.

No sends either way (messaging/accept.py asks ``send_checks`` once per
batch), no typing, presence or profile frames (the consumer keeps each
socket's ``block_relations`` and reloads them on a ``chat.blocks`` event);
each sees the other offline with ``last_seen`` null. Their history stays
readable. ``t_block`` is the truth; each user's relations are cached in
Redis (profiles/store.py) so the conversation page stays free of SQL.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from chat_project.common import push
from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate
from chat_project.common.redis_client import Reads
from chat_project.common.sql import marks

from . import store
from .models import Block, User
from .services import get_profiles, get_visible_profile

logger = logging.getLogger(__name__)


def block_user(user_id: int, target_id: int) -> None:
    """Idempotent: blocking a blocked user changes nothing."""
    _change(user_id, target_id, block=True)


def unblock_user(user_id: int, target_id: int) -> None:
    """Idempotent: unblocking a user not blocked changes nothing."""
    _change(user_id, target_id, block=False)


def _change(user_id: int, target_id: int, *, block: bool) -> None:
    check_rate("block", f"u{user_id}", settings.CHAT_BLOCK_RATE)
    if target_id == user_id:
        raise InvalidInput.field("user_id", "You cannot block yourself.")
    get_visible_profile(user_id, target_id)  # not_found for users the requester may not see
    with transaction.atomic():
        if block:
            Block.objects.bulk_create([Block(blocker_id=user_id, blocked_id=target_id)], ignore_conflicts=True)
        else:
            Block.objects.filter(blocker_id=user_id, blocked_id=target_id).delete()
        transaction.on_commit(lambda: _forget(user_id, target_id))
        # Both users' sockets reload their relations (and fix what their watch lists show).
        push.send([push.blocks_changed(user_id), push.blocks_changed(target_id)], quiet=True)


def _forget(*user_ids: int) -> None:
    try:
        store.forget_blocks(user_ids)
    except Exception:
        logger.warning("could not drop the cached blocks of %s", user_ids, exc_info=True)


def block_relations(user_id: int) -> tuple[set[int], set[int]]:
    """(users this user blocks, users who block this user), from the cache or rebuilt."""
    reads = Reads()
    relations = queue_block_relations(reads, user_id)
    reads.execute()
    return relations()


def queue_block_relations(reads: Reads, user_id: int) -> Callable[[], tuple[set[int], set[int]]]:
    """``block_relations`` on a shared pipeline: queue its reads now, call the result after ``reads.execute()``."""
    slot = reads.add(store.queue_block_reads, user_id)

    def relations() -> tuple[set[int], set[int]]:
        version, cached = store.parse_block_reads(reads[slot])
        return cached if cached is not None else rebuild_blocks(user_id, version)

    return relations


def rebuild_blocks(user_id: int, version: str) -> tuple[set[int], set[int]]:
    blocking: set[int] = set()
    blocked_by: set[int] = set()
    for blocker, blocked in Block.objects.filter(Q(blocker_id=user_id) | Q(blocked_id=user_id)).values_list(
        "blocker_id", "blocked_id"
    ):
        if blocker == user_id:
            blocking.add(blocked)
        else:
            blocked_by.add(blocker)
    store.write_blocks(user_id, version, blocking, blocked_by)
    return blocking, blocked_by


def blocked_with(user_id: int) -> set[int]:
    """Users this one blocks or is blocked by."""
    blocking, blocked_by = block_relations(user_id)
    return blocking | blocked_by


def send_checks(recipients: set[int], pairs: set[tuple[int, int]]) -> tuple[set[int], set[tuple[int, int]]]:
    """For the send batch, in one statement: which ``recipients`` are active users, and which
    (sender, recipient) ``pairs`` are blocked either way.

    Raw SQL on purpose: this runs once per send batch, and the two ORM queries it
    replaces cost a batch of one more in Python (building the filters) than in the
    database, plus a round trip.
    """
    users = sorted({u for pair in pairs for u in pair})
    wanted = sorted(recipients)
    if not wanted:
        return set(), set()
    user_marks, wanted_marks = marks(users), marks(wanted)
    with connection.cursor() as cursor:
        # An active recipient comes as (id, 0); a block as (blocker, blocked), never 0.
        cursor.execute(
            f"SELECT id, 0 FROM {User._meta.db_table} WHERE id IN ({wanted_marks}) AND is_active"
            f" UNION ALL SELECT blocker_id, blocked_id FROM {Block._meta.db_table}"
            f" WHERE blocker_id IN ({user_marks}) AND blocked_id IN ({user_marks})",
            [*wanted, *users, *users],
        )
        rows = cursor.fetchall()
    active = {a for a, b in rows if b == 0}
    found = {(a, b) for a, b in rows if b != 0}
    found |= {(b, a) for a, b in found}
    return active, {pair for pair in pairs if pair in found}


def list_blocks(user_id: int) -> list[dict]:
    """``GET blocks``: the Profiles of the users this one blocks (offline, last_seen null, blocked true)."""
    blocking = (
        Block.objects.filter(blocker_id=user_id).order_by("created_at", "pk").values_list("blocked_id", flat=True)
    )
    ids = list(blocking)
    profiles = get_profiles(ids)
    return [hide_presence(profiles[u], blocked=True) for u in ids if u in profiles]


def hide_presence(profile: dict, *, blocked: bool) -> dict:
    """A Profile as one of two blocked users sees the other: offline, last_seen null."""
    return {**profile, "online": False, "last_seen": None, "blocked": blocked}


def profile_for(viewer_id: int, profile: dict, relations: tuple[set[int], set[int]]) -> dict:
    """``profile`` as ``viewer_id`` sees it (PROTOCOL.md 1.2 ``blocked``)."""
    blocking, blocked_by = relations
    user_id = profile["user_id"]
    if user_id in blocking or user_id in blocked_by:
        return hide_presence(profile, blocked=user_id in blocking)
    return {**profile, "blocked": False}
