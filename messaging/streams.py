"""Per-user streams: ids (msg_id and rev) follow commit order per user.

Every transaction that gives a user's message an id (a new message's
``msg_id``, or a fresh ``rev`` for a recall, an edit or a reaction) first
locks the ``t_msg_stream`` rows of both users of the message (FOR UPDATE, in
user-id order), takes an id larger than both rows' ``last_msg_id`` and
writes it back; the locks are held until COMMIT. So once a reader sees id X
of a user, every smaller id of that user is visible too or never will be
(docs/architecture.md, "Sync is gap-free"). The send batch
(messaging/accept.py) and the message changes (messaging/changes.py) both go
through here.

Lock order, for every writer: stream rows, then unread counters, then
message rows, then conversation rows.
"""

import threading

from chat_project.common.sql import marks

from .ids import next_message_id
from .models import MessageStream

# A stream row, once there, stays: remembered for the life of the process.
_streams_known: set[int] = set()
_lock = threading.Lock()


def ensure_streams(user_ids: set[int]) -> None:
    """Create missing stream rows, outside any transaction that will lock them.

    An INSERT that finds the row takes a shared lock on it, and two
    transactions upgrading shared locks would deadlock.
    """
    with _lock:
        missing = user_ids - _streams_known
    if missing:
        MessageStream.objects.bulk_create([MessageStream(user_id=u) for u in missing], ignore_conflicts=True)
        with _lock:
            _streams_known.update(missing)


def lock_streams(cursor, user_ids: list[int]) -> dict[int, int]:
    """Lock the users' stream rows (sorted: no cycle between two lockers); their last ids."""
    users = sorted(set(user_ids))
    cursor.execute(
        f"SELECT user_id, last_msg_id FROM t_msg_stream WHERE user_id IN ({marks(users)}) ORDER BY user_id FOR UPDATE",
        users,
    )
    last = dict(cursor.fetchall())
    for user in users:
        last.setdefault(user, 0)
    return last


def take_id(last: dict[int, int], *user_ids: int) -> int:
    """A new id larger than the last id of each user (whose rows ``lock_streams`` holds); recorded in ``last``."""
    new_id = next_message_id(above=max(last[u] for u in user_ids))
    for user in user_ids:
        last[user] = new_id
    return new_id


def write_streams(cursor, last: dict[int, int]) -> None:
    """Write the users' last ids back (one UPDATE), inside the transaction that locked them."""
    users = sorted(last)
    cases = " ".join(["WHEN %s THEN %s"] * len(users))
    cursor.execute(
        f"UPDATE t_msg_stream SET last_msg_id = CASE user_id {cases} END"
        f" WHERE user_id IN ({','.join(['%s'] * len(users))})",
        [v for u in users for v in (u, last[u])] + users,
    )
