"""Unread counters: received and read per (conversation, user).

The database row is exact because every change to it happens in the same
transaction as the message rows it counts. Read and recall lock the counter
row before touching message rows; a send batch locks its users' stream rows,
then the counters, then inserts (docs/architecture.md), so none of them can
wait on another in a cycle. Redis holds a versioned copy.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from django.db import connection
from django.db.models import F

from chat_project.common.redis_client import Reads, get_redis

from . import store
from .models import UnreadCounter
from .store import CounterCopy


def add_received(counts: Mapping[tuple[int, int], int]) -> None:
    """Count received messages, {(conversation_id, user_id): n}, in one statement.

    Takes the counter rows' locks for the transaction (the send batch,
    messaging/accept.py).
    """
    values: list[int] = []
    for (conversation_id, user_id), n in counts.items():
        values += [conversation_id, user_id, n, n]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO t_unread_counter (conversation_id, user_id, received, `read`, last_read_msg_id, version)"
            " VALUES " + ",".join(["(%s, %s, %s, 0, 0, %s)"] * len(counts)) + " ON DUPLICATE KEY UPDATE"
            " received = received + VALUES(received), version = version + VALUES(version)",
            values,
        )


def take_back_received(counts: Mapping[tuple[int, int], int]) -> None:
    """Undo ``add_received`` for messages the same transaction found already stored (re-sends)."""
    for (conversation_id, user_id), n in counts.items():
        UnreadCounter.objects.filter(conversation_id=conversation_id, user_id=user_id).update(
            received=F("received") - n
        )


def counter_copies(pairs: Iterable[tuple[int, int]]) -> dict[int, list[CounterCopy]]:
    """The copies of the (conversation_id, user_id) counters, by user.

    One raw query on the (user, conversation) key by two IN lists, the pairs
    picked from its rows: it runs in every send batch and fan-out, where an ORM
    filter (an OR of one condition per pair) cost more Python than the query.
    """
    wanted = set(pairs)
    if not wanted:
        return {}
    users = sorted({u for _, u in wanted})
    conversations = sorted({c for c, _ in wanted})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, conversation_id, received, `read`, version FROM t_unread_counter"
            f" WHERE user_id IN ({','.join(['%s'] * len(users))})"
            f" AND conversation_id IN ({','.join(['%s'] * len(conversations))})",
            [*users, *conversations],
        )
        rows = cursor.fetchall()
    copies: dict[int, list[CounterCopy]] = defaultdict(list)
    for user_id, conversation_id, *counts in rows:
        if (conversation_id, user_id) in wanted:
            copies[user_id].append(CounterCopy(conversation_id, *counts))
    return dict(copies)


def lock_counter(conversation_id: int, user_id: int) -> UnreadCounter:
    """The counter row, locked until the transaction ends (created if missing)."""
    UnreadCounter.objects.get_or_create(conversation_id=conversation_id, user_id=user_id)
    return UnreadCounter.objects.select_for_update().get(conversation_id=conversation_id, user_id=user_id)


def count_read(counter: UnreadCounter, newly_read: int, read_up_to: int = 0, receipt_msg_id: int = 0) -> None:
    """On the locked row: ``newly_read`` more messages read, the read position raised to ``read_up_to``,
    and the read receipt it gives the peer raised to ``receipt_msg_id``.

    Saves (and moves the version) only when something changed.
    """
    if not newly_read and read_up_to <= counter.last_read_msg_id and receipt_msg_id <= counter.read_receipt_msg_id:
        return
    counter.read += newly_read
    counter.last_read_msg_id = max(counter.last_read_msg_id, read_up_to)
    counter.read_receipt_msg_id = max(counter.read_receipt_msg_id, receipt_msg_id)
    counter.version += 1
    counter.save(update_fields=["read", "last_read_msg_id", "read_receipt_msg_id", "version"])


def counter_copy(counter: UnreadCounter) -> CounterCopy:
    return CounterCopy(counter.conversation_id, counter.received, counter.read, counter.version)


def publish(user_id: int, copies: list[CounterCopy]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    store.queue_counter_writes(pipe, user_id, copies)
    pipe.execute()


def rebuild_unread(user_id: int) -> dict[int, int]:
    copies = [
        CounterCopy(*row)
        for row in UnreadCounter.objects.filter(user_id=user_id).values_list(
            "conversation_id", "received", "read", "version"
        )
    ]
    store.write_all(user_id, copies)
    return {copy.conversation_id: copy.unread for copy in copies if copy.unread}


def unread_counts_in(user_id: int, conversation_ids: list[int]) -> dict[int, int]:
    """{conversation_id: unread} of these conversations, from the database, Redis left as it is (a cold page)."""
    rows = UnreadCounter.objects.filter(user_id=user_id, conversation_id__in=conversation_ids).values_list(
        "conversation_id", "received", "read"
    )
    return {cid: received - read for cid, received, read in rows if received > read}


def rebuild_unread_many(user_ids: list[int]) -> None:
    """``rebuild_unread`` for a batch of users: one query, one round trip."""
    copies: dict[int, list[CounterCopy]] = {user_id: [] for user_id in user_ids}
    rows = UnreadCounter.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "conversation_id", "received", "read", "version"
    )
    for user_id, *copy in rows:
        copies[user_id].append(CounterCopy(*copy))
    store.write_many(copies)


def unread_counts(user_id: int) -> dict[int, int]:
    """{conversation_id: unread} for every conversation with unread messages (``GET unread``)."""
    pipe = get_redis().pipeline(transaction=False)
    store.queue_reads(pipe, user_id)
    parsed = store.parse_reads(pipe.execute())
    if parsed is None:
        return rebuild_unread(user_id)
    return {c: n for c, n in parsed.items() if n > 0}


def unread_summary(user_id: int) -> dict:
    counts = unread_counts(user_id)
    return {"total": sum(counts.values()), "conversations": {str(cid): n for cid, n in sorted(counts.items())}}


def unread_frame(user_id: int, conversation_id: int) -> dict:
    """The ``unread`` frame as things stand now: one round trip to the Redis copy for both numbers.

    Read at push time rather than carried from the operation, so a frame pushed
    late (a delayed fan-out) still tells the current count, not an old one.
    """
    reads = Reads()
    frames = queue_unread_frames(reads, [(user_id, conversation_id)])
    reads.execute()
    return frames()[user_id, conversation_id]


def queue_unread_frames(reads: Reads, wanted: Iterable[tuple[int, int]]) -> Callable[[], dict[tuple[int, int], dict]]:
    """``unread_frame`` of each (user, conversation) on a shared pipeline (the fan-out's): call after ``execute``.

    Reads each conversation's counter and the user's maintained total
    (unread/store.py), not every counter of the user.
    """
    by_user: dict[int, list[int]] = {}
    for user_id, conversation_id in dict.fromkeys(wanted):
        by_user.setdefault(user_id, []).append(conversation_id)
    slots = {user_id: reads.add(store.queue_frame_reads, user_id, ids) for user_id, ids in by_user.items()}

    def frames() -> dict[tuple[int, int], dict]:
        found = {}
        for user_id, ids in by_user.items():
            parsed = store.parse_frame_reads(ids, reads[slots[user_id]])
            if parsed is None:
                every = rebuild_unread(user_id)
                parsed = (every, sum(every.values()))
            counts, total = parsed
            for conversation_id in ids:
                found[user_id, conversation_id] = {
                    "type": "unread",
                    "conversation_id": conversation_id,
                    "unread": counts.get(conversation_id, 0),
                    "total": total,
                }
        return found

    return frames
