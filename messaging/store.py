"""Redis keys of the messaging app: offline messages and push markers.

Per recipient (hash tag ``{u:<id>}``):
- ``offline``: sorted set of senders with pending offline messages, score =
  the oldest pending msg id (so groups come out ordered by their oldest message).
- ``offline:<sender_id>``: sorted set of that sender's pending msg ids.
- ``offline:ready``: set once the two above hold everything the database owes.
``{m:<msg_id>}:pushed``: the message's frames went out; a re-run of the
fan-out does not push them a second time. Only needed until the database
says the fan-out is done (a re-run skips done messages): once it does, the
marker lives on for a minute (a re-run that loaded the batch just before it
was marked done), so these keys grow with the fan-out in flight, not with
traffic. A marker whose done-mark failed (the database went away) keeps its
day; no new message is accepted meanwhile.
``{u:<id>}:pushseq``: how many fan-out events were sent to the user's group;
every event carries its number, so a socket can tell it missed one
(``push.PushSequence``) and ask its client to sync.
"""

from typing import cast

from chat_project.common.redis_client import get_redis, key, user_tag

PUSH_MARKER_SECONDS = 24 * 3600
# Once the database has marked the fan-out done (docs/scaling.md, "Keys that grow with traffic").
PUSH_MARKER_DONE_SECONDS = 60

# After removing entries of sender ARGV[1] (KEYS[2]), keep the index (KEYS[1])
# score = that sender's oldest entry left, or drop the sender.
_REFRESH_INDEX = """
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #oldest == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], oldest[2], ARGV[1])
end
return 1
"""
# Remove a sender's entries up to ARGV[2].
_ACK = "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])" + _REFRESH_INDEX
# Remove the given ids of one sender (ARGV[2..]).
_REMOVE = "for i = 2, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end" + _REFRESH_INDEX


def index_key(user_id: int) -> str:
    return key(user_tag(user_id), "offline")


def sender_key(user_id: int, sender_id: int) -> str:
    return key(user_tag(user_id), "offline", sender_id)


def ready_key(user_id: int) -> str:
    return key(user_tag(user_id), "offline", "ready")


def pushed_key(msg_id: int) -> str:
    return key("{m:%d}" % msg_id, "pushed")


def queue_offline_add(pipe, recipient_id: int, sender_id: int, msg_id: int) -> None:
    pipe.zadd(sender_key(recipient_id, sender_id), {msg_id: msg_id})
    # LT keeps the smallest score: the group's oldest message.
    pipe.zadd(index_key(recipient_id), {sender_id: msg_id}, lt=True)


def ack(recipient_id: int, sender_id: int, up_to: int) -> None:
    get_redis().eval(_ACK, 2, index_key(recipient_id), sender_key(recipient_id, sender_id), sender_id, up_to)


def remove(recipient_id: int, sender_id: int, msg_ids: list[int]) -> None:
    """Drop entries the database no longer owes (acked while a late fan-out re-added them)."""
    get_redis().eval(_REMOVE, 2, index_key(recipient_id), sender_key(recipient_id, sender_id), sender_id, *msg_ids)


def queue_pending_index_reads(pipe, recipient_id: int) -> None:
    """Whether the offline index is ready, and its senders: the first of offline's two round trips (``Reads``)."""
    pipe.exists(ready_key(recipient_id))
    pipe.zrange(index_key(recipient_id), 0, -1)


def parse_pending_index(replies: list) -> tuple[bool, list[int]]:
    """(ready, the senders with messages pending, oldest group first)."""
    ready, senders = replies
    return bool(ready), [int(sender) for sender in senders]


def queue_pending_group_reads(pipe, recipient_id: int, senders: list[int], limit: int) -> None:
    """The second round trip: up to ``limit`` pending ids of each sender's group."""
    for sender in senders:
        pipe.zrange(sender_key(recipient_id, sender), 0, limit - 1)


def parse_pending_groups(senders: list[int], replies: list) -> list[tuple[int, list[int]]]:
    return [(sender, [int(m) for m in ids]) for sender, ids in zip(senders, replies, strict=True)]


def write_all(recipient_id: int, pending: dict[int, list[int]]) -> None:
    """Merge the database's pending offline messages (sender -> msg ids) and mark ready."""
    write_many({recipient_id: pending})


def write_many(pending_by_recipient: dict[int, dict[int, list[int]]]) -> None:
    """``write_all`` for several recipients in one round trip (``rebuild_redis``'s batches)."""
    pipe = get_redis().pipeline(transaction=False)
    for recipient_id, pending in pending_by_recipient.items():
        for sender_id, msg_ids in pending.items():
            if msg_ids:
                pipe.zadd(sender_key(recipient_id, sender_id), {str(m): m for m in msg_ids})
                pipe.zadd(index_key(recipient_id), {str(sender_id): min(msg_ids)}, lt=True)
        pipe.set(ready_key(recipient_id), 1)
    pipe.execute()


def rebuild_progress_key() -> str:
    """``rebuild_redis``'s progress: "drop" while it drops, then the last user id rebuilt; gone once finished."""
    return key("rebuild", "progress")


def rebuild_progress() -> str | None:
    return cast("str | None", get_redis().get(rebuild_progress_key()))  # redis-py: sync or async reply


def set_rebuild_progress(value: str | int | None) -> None:
    if value is None:
        get_redis().delete(rebuild_progress_key())
    else:
        get_redis().set(rebuild_progress_key(), value)


def queue_pushed_reads(pipe, msg_ids: list[int]) -> None:
    for msg_id in msg_ids:
        pipe.exists(pushed_key(msg_id))


def parse_pushed_reads(msg_ids: list[int], replies: list) -> dict[int, bool]:
    """The replies of ``queue_pushed_reads``: {msg_id: pushed already}."""
    return {msg_id: bool(flag) for msg_id, flag in zip(msg_ids, replies, strict=True)}


def mark_pushed(msg_ids: list[int]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for msg_id in msg_ids:
        pipe.set(pushed_key(msg_id), 1, ex=PUSH_MARKER_SECONDS)
    pipe.execute()


def retire_push_markers(msg_ids: list[int]) -> None:
    """The fan-out of these messages is marked done in the database: their markers may go soon."""
    pipe = get_redis().pipeline(transaction=False)
    for msg_id in msg_ids:
        pipe.expire(pushed_key(msg_id), PUSH_MARKER_DONE_SECONDS)
    pipe.execute()


PUSH_SEQ_SECONDS = 7 * 24 * 3600


def push_seq_key(user_id: int) -> str:
    return key(user_tag(user_id), "pushseq")


def next_push_seqs(user_ids: list[int]) -> dict[int, int]:
    """Number one more fan-out or change event for each user (one round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.incr(push_seq_key(user_id))
        pipe.expire(push_seq_key(user_id), PUSH_SEQ_SECONDS)
    replies = pipe.execute()
    return {user_id: int(replies[2 * i]) for i, user_id in enumerate(user_ids)}


def push_seqs(user_ids: list[int]) -> dict[int, int]:
    """The number of each user's latest fan-out event (0 before the first), in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.get(push_seq_key(user_id))
    return {user_id: int(value or 0) for user_id, value in zip(user_ids, pipe.execute(), strict=True)}


# What ``rebuild_redis`` drops: the offline index and lists, derived from the
# database. Push markers and push numbers are live state of the fan-out.
DERIVED_KEY_PATTERNS = ("{u:*}:offline", "{u:*}:offline:*")
