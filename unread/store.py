"""Redis keys of the unread app.

``{u:<id>}:unread`` is a hash: field = conversation id, value =
``received:read:version``. The database's counter row is the truth; this is
its copy. Writes carry the row's version and a script keeps whichever is
newer, so two writers finishing in the wrong order, or a task re-run, can
never move a count backwards. ``{u:<id>}:unread:ready`` marks a hash that
holds every conversation of the user (set by a rebuild from the database).

``{u:<id>}:unread:total`` is the sum of the hash's unread counts, for the
``total`` of each ``unread`` frame: reading it is one GET, where summing
the hash read every conversation of the user on every push (thousands for a
heavy user). Whenever it exists it equals that sum: it is only ever made
from the hash by a script (``_TOTAL``), and the one script that writes the
hash (``_SET_NEWER``) moves it by the same difference, atomically. Dropping
the hash drops it too (``DERIVED_KEY_PATTERNS``); a hash written before the
total existed gets one at its first read. It also lives only
TOTAL_TTL_SECONDS and is summed again after: a writer that does not know
of it (a process of the previous version during a rolling upgrade) can
leave it wrong for at most that long.
"""

from collections.abc import Iterable
from typing import NamedTuple

from chat_project.common.redis_client import get_redis, key, queue_script, user_tag

# KEYS: the hash, its total. ARGV: (conversation id, received, read, version) per counter.
_SET_NEWER = """
local moved = 0
for i = 1, #ARGV, 4 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local version, before = 0, 0
  if current then
    local received, read, v = string.match(current, '(%d+):(%d+):(%d+)')
    version = tonumber(v)
    before = math.max(0, tonumber(received) - tonumber(read))
  end
  if tonumber(ARGV[i + 3]) > version then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ':' .. ARGV[i + 2] .. ':' .. ARGV[i + 3])
    moved = moved + math.max(0, tonumber(ARGV[i + 1]) - tonumber(ARGV[i + 2])) - before
  end
end
if moved ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('INCRBY', KEYS[2], moved)
end
return 1
"""

# See the module's docstring: how long a total may be wrong if something bypasses _SET_NEWER.
TOTAL_TTL_SECONDS = 600

# KEYS: the hash, its total. ARGV: the total's time to live. The total, made from the hash when it is missing.
_TOTAL = """
local total = redis.call('GET', KEYS[2])
if total then
  return tonumber(total)
end
local sum = 0
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  local received, read = string.match(value, '(%d+):(%d+):')
  sum = sum + math.max(0, tonumber(received) - tonumber(read))
end
redis.call('SET', KEYS[2], sum, 'EX', ARGV[1])
return sum
"""


def unread_key(user_id: int) -> str:
    return key(user_tag(user_id), "unread")


def ready_key(user_id: int) -> str:
    return key(user_tag(user_id), "unread", "ready")


def total_key(user_id: int) -> str:
    return key(user_tag(user_id), "unread", "total")


class CounterCopy(NamedTuple):
    """What Redis keeps of one counter row; a copy never replaces a newer one (``version``)."""

    conversation_id: int
    received: int
    read: int
    version: int

    @property
    def unread(self) -> int:
        return max(0, self.received - self.read)


def queue_counter_writes(pipe, user_id: int, counters: Iterable[CounterCopy]) -> None:
    """Queue one user's counter copies."""
    args: list[int] = []
    for counter in counters:
        args += [counter.conversation_id, counter.received, counter.read, counter.version]
    if not args:
        return
    queue_script(pipe, _SET_NEWER, [unread_key(user_id), total_key(user_id)], args)


def queue_reads(pipe, user_id: int) -> None:
    pipe.exists(ready_key(user_id))
    pipe.hgetall(unread_key(user_id))


def parse_reads(replies: list) -> dict[int, int] | None:
    """The replies of ``queue_reads``: {conversation_id: unread}, or None when the hash must be rebuilt first."""
    ready, raw = replies
    return parse_counts(raw) if ready else None


def queue_page_reads(pipe, user_id: int, conversation_ids: list[int]) -> None:
    """``queue_reads`` for some of the user's conversations only (a page of the conversation list)."""
    pipe.exists(ready_key(user_id))
    pipe.hmget(unread_key(user_id), conversation_ids)


def parse_page_reads(conversation_ids: list[int], replies: list) -> dict[int, int] | None:
    """The replies of ``queue_page_reads``: {conversation_id: unread} of those with a counter, or None (rebuild)."""
    ready, values = replies
    if not ready:
        return None
    return {cid: _unread(value) for cid, value in zip(conversation_ids, values, strict=True) if value is not None}


def queue_frame_reads(pipe, user_id: int, conversation_ids: list[int]) -> None:
    """What ``unread`` frames of these conversations tell: their counts and the user's total."""
    queue_page_reads(pipe, user_id, conversation_ids)
    queue_script(pipe, _TOTAL, [unread_key(user_id), total_key(user_id)], [TOTAL_TTL_SECONDS])


def parse_frame_reads(conversation_ids: list[int], replies: list) -> tuple[dict[int, int], int] | None:
    """The replies of ``queue_frame_reads``: ({conversation_id: unread}, total), or None (rebuild first)."""
    counts = parse_page_reads(conversation_ids, replies[:2])
    return None if counts is None else (counts, int(replies[2]))


def parse_counts(raw: dict[str, str]) -> dict[int, int]:
    """Hash contents -> {conversation_id: unread}."""
    return {int(field): _unread(value) for field, value in raw.items()}


def _unread(value: str) -> int:
    received, read, _ = value.split(":")
    return max(0, int(received) - int(read))


def write_all(user_id: int, counters: list[CounterCopy]) -> None:
    write_many({user_id: counters})


def write_many(counters_by_user: dict[int, list[CounterCopy]]) -> None:
    """``write_all`` for several users in one round trip (``rebuild_redis``'s batches)."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id, counters in counters_by_user.items():
        queue_counter_writes(pipe, user_id, counters)
        pipe.set(ready_key(user_id), 1)
    pipe.execute()


# What ``rebuild_redis`` drops: everything here is derived from the database.
DERIVED_KEY_PATTERNS = ("{u:*}:unread", "{u:*}:unread:ready", "{u:*}:unread:total")
