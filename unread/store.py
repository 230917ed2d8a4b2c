"""Redis keys of the unread app.

``{u:<id>}:unread`` is a hash: field = conversation id, value =
``received:read:version``. The database's counter row is the truth; this is
its copy. Writes carry the row's version and a script keeps whichever is
newer, so two writers finishing in the wrong order, or a task re-run, can
never move a count backwards. ``{u:<id>}:unread:ready`` marks a hash that
holds every conversation of the user (set by a rebuild from the database).
"""

from chat_project.common.redis_client import get_redis, key, queue_script, user_tag

_SET_NEWER = """
for i = 1, #ARGV, 4 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local version = 0
  if current then
    version = tonumber(string.match(current, '[^:]+:[^:]+:(%d+)'))
  end
  if tonumber(ARGV[i + 3]) > version then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ':' .. ARGV[i + 2] .. ':' .. ARGV[i + 3])
  end
end
return 1
"""


def unread_key(user_id: int) -> str:
    return key(user_tag(user_id), "unread")


def ready_key(user_id: int) -> str:
    return key(user_tag(user_id), "unread", "ready")


def queue_counter_writes(pipe, user_id: int, counters: list[tuple[int, int, int, int]]) -> None:
    """Queue (conversation_id, received, read, version) copies for one user."""
    if not counters:
        return
    args: list[int] = []
    for conversation_id, received, read, version in counters:
        args += [conversation_id, received, read, version]
    queue_script(pipe, _SET_NEWER, [unread_key(user_id)], args)


def queue_reads(pipe, user_id: int) -> None:
    pipe.exists(ready_key(user_id))
    pipe.hgetall(unread_key(user_id))


def parse_counts(raw: dict[str, str]) -> dict[int, int]:
    """Hash contents -> {conversation_id: unread}."""
    counts = {}
    for field, value in raw.items():
        received, read, _ = value.split(":")
        counts[int(field)] = max(0, int(received) - int(read))
    return counts


def write_all(user_id: int, counters: list[tuple[int, int, int, int]]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    queue_counter_writes(pipe, user_id, counters)
    pipe.set(ready_key(user_id), 1)
    pipe.execute()
