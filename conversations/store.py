"""Redis keys of the conversations app.

Per user (hash tag ``{u:<id>}``):
- ``convs``: sorted set, member = conversation id, score = its newest msg id;
  read newest-first with ZREVRANGEBYSCORE, which pages by ``before``.
- ``peers``: hash, conversation id -> the other user's id.
- ``convs:ready``: set once the two above hold every conversation of the user.
- ``convs:rebuilding``: a claim (60 s at most) while a task rebuilds the
  unread counters and read receipts of a user with many conversations
  (conversations/tasks.py).
- ``peer_read``: hash, conversation id -> the largest msg id of this user's
  own messages there that the peer has read (PROTOCOL.md 1.1
  ``peer_read_up_to``); written max-only when the peer marks read, so a late
  or repeated writer never moves it back. ``peer_read:ready`` marks a hash
  rebuilt from the database (``t_unread_counter.last_read_msg_id``).
Per conversation (hash tag ``{c:<id>}``):
- ``recent``: sorted set of the newest messages as JSON, score = msg id,
  trimmed to CHAT_RECENT_WINDOW; its top is the conversation's last message.
  It expires CHAT_RECENT_TTL_SECONDS after the conversation's last new
  message (a conversation list refills it from the database on a miss), so
  the windows grow with the conversations in use, not with all there ever were.

Every write is idempotent: ZADD GT never lowers a score, a message joins the
recent window only if its id is absent, a recall replaces the entry only if
it is there and holds an older ``rev``.
"""

import json
from typing import NamedTuple, cast

from django.conf import settings

from chat_project.common.redis_client import conversation_tag, get_redis, key, queue_script, user_tag

_ADD_IF_ABSENT = """
if #redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return 1
"""

_SET_GREATER = """
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""

# Replace a message's entry only if it is there and holds an older rev
# (ARGV[3]): changes may be written out of order, the newest state wins.
_REPLACE_IF_PRESENT = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
if #found > 0 then
  local ok, old = pcall(cjson.decode, found[1])
  local old_rev = 0
  if ok and type(old) == 'table' and tonumber(old['rev']) then old_rev = tonumber(old['rev']) end
  if tonumber(ARGV[3]) > old_rev then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  end
end
return 1
"""


def convs_key(user_id: int) -> str:
    return key(user_tag(user_id), "convs")


def peers_key(user_id: int) -> str:
    return key(user_tag(user_id), "peers")


def ready_key(user_id: int) -> str:
    return key(user_tag(user_id), "convs", "ready")


def peer_read_key(user_id: int) -> str:
    return key(user_tag(user_id), "peer_read")


def peer_read_ready_key(user_id: int) -> str:
    return key(user_tag(user_id), "peer_read", "ready")


def recent_key(conversation_id: int) -> str:
    return key(conversation_tag(conversation_id), "recent")


def _encode(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def queue_message(pipe, message: dict) -> None:
    """Queue the writes one new message makes: both users' lists, the recent window."""
    conversation_id, msg_id = message["conversation_id"], message["msg_id"]
    for user_id, peer_id in (
        (message["sender_id"], message["recipient_id"]),
        (message["recipient_id"], message["sender_id"]),
    ):
        pipe.zadd(convs_key(user_id), {conversation_id: msg_id}, gt=True)
        pipe.hset(peers_key(user_id), conversation_id, peer_id)
    _queue_add_recent(pipe, message)


def _queue_add_recent(pipe, message: dict) -> None:
    queue_script(
        pipe,
        _ADD_IF_ABSENT,
        [recent_key(message["conversation_id"])],
        [message["msg_id"], _encode(message), settings.CHAT_RECENT_WINDOW, settings.CHAT_RECENT_TTL_SECONDS],
    )


def queue_replace(pipe, message: dict) -> None:
    """A changed message replaces its recent-window entry, unless the entry already holds a newer rev."""
    queue_script(
        pipe,
        _REPLACE_IF_PRESENT,
        [recent_key(message["conversation_id"])],
        [message["msg_id"], _encode(message), message["rev"]],
    )


def list_rebuild_key(user_id: int) -> str:
    return key(user_tag(user_id), "convs", "rebuilding")


# How long a claim on a user's list rebuild holds if its task never ends (a lost worker).
LIST_REBUILD_CLAIM_SECONDS = 60


def claim_list_rebuild(user_id: int) -> bool:
    """True for the one caller that should queue the rebuild of the user's counters and receipts."""
    return bool(get_redis().set(list_rebuild_key(user_id), 1, nx=True, ex=LIST_REBUILD_CLAIM_SECONDS))


def release_list_rebuild(user_id: int) -> None:
    get_redis().delete(list_rebuild_key(user_id))


def queue_list_size(pipe, user_id: int) -> None:
    pipe.zcard(convs_key(user_id))


def parse_list_size(replies: list) -> int:
    return int(replies[0])


def queue_page_read(pipe, user_id: int, limit: int, before: int | None) -> None:
    pipe.exists(ready_key(user_id))
    top = f"({before}" if before is not None else "+inf"
    # Scores are msg ids (> 0); the page takes one extra to know whether more exist.
    pipe.zrevrangebyscore(convs_key(user_id), top, "(0", start=0, num=limit + 1, withscores=True)


def queue_peer_and_last_reads(pipe, user_id: int, conversation_ids: list[int]) -> None:
    pipe.hmget(peers_key(user_id), conversation_ids)
    for conversation_id in conversation_ids:
        pipe.zrevrange(recent_key(conversation_id), 0, 0)


def queue_peer_read_reads(pipe, user_id: int, conversation_ids: list[int]) -> None:
    pipe.exists(peer_read_ready_key(user_id))
    pipe.hmget(peer_read_key(user_id), conversation_ids)


def parse_peer_and_last(
    conversation_ids: list[int], replies: list
) -> tuple[dict[int, int | None], dict[int, dict | None]]:
    """The replies of ``queue_peer_and_last_reads``: each conversation's peer (None: not cached) and last message."""
    peers_raw, lasts_raw = replies[0], replies[1:]
    peers = {
        cid: int(peer) if peer is not None else None for cid, peer in zip(conversation_ids, peers_raw, strict=True)
    }
    lasts = {cid: decode_last(raw) for cid, raw in zip(conversation_ids, lasts_raw, strict=True)}
    return peers, lasts


def parse_peer_read_reads(conversation_ids: list[int], replies: list) -> dict[int, int] | None:
    """The replies of ``queue_peer_read_reads``; None when the hash must be rebuilt first."""
    ready, values = replies
    return parse_peer_reads(conversation_ids, values) if ready else None


def parse_peer_reads(conversation_ids: list[int], values: list[str | None]) -> dict[int, int]:
    return {cid: int(value) for cid, value in zip(conversation_ids, values, strict=True) if value is not None}


def queue_peer_read_writes(pipe, user_id: int, positions: dict[int, int]) -> None:
    """Raise (never lower) the user's ``peer_read`` entries: {conversation_id: msg_id}."""
    if not positions:
        return
    args: list[int] = []
    for conversation_id, msg_id in positions.items():
        args += [conversation_id, msg_id]
    queue_script(pipe, _SET_GREATER, [peer_read_key(user_id)], args)


def write_peer_reads(user_id: int, positions: dict[int, int]) -> None:
    """Merge a rebuild of the user's ``peer_read`` hash and mark it ready."""
    write_many_peer_reads({user_id: positions})


def write_many_peer_reads(positions_by_user: dict[int, dict[int, int]]) -> None:
    """``write_peer_reads`` for several users in one round trip (``rebuild_redis``'s batches)."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id, positions in positions_by_user.items():
        queue_peer_read_writes(pipe, user_id, positions)
        pipe.set(peer_read_ready_key(user_id), 1)
    pipe.execute()


def record_peer_read(user_id: int, conversation_id: int, msg_id: int) -> None:
    pipe = get_redis().pipeline(transaction=False)
    queue_peer_read_writes(pipe, user_id, {conversation_id: msg_id})
    pipe.execute()


def decode_last(entries: list[str]) -> dict | None:
    if not entries:
        return None
    message = json.loads(entries[0])
    # Entries written before version 1.1 lack the field; they were all written
    # before any recall recorded who did it.
    message.setdefault("recalled_by", None)
    # And entries written before version 1.2: unchanged since, so rev = msg_id.
    message.setdefault("rev", message["msg_id"])
    message.setdefault("edited_at", None)
    message.setdefault("reply_to", None)
    message.setdefault("reactions", [])
    return message


def add_recent(messages: list[dict]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for message in messages:
        _queue_add_recent(pipe, message)
    pipe.execute()


def write_user_lists(user_id: int, entries: list[tuple[int, int, int]]) -> None:
    """Merge (conversation_id, peer_id, last_msg_id) rows into the user's lists and mark them ready."""
    write_many_user_lists({user_id: entries})


def write_many_user_lists(entries_by_user: dict[int, list[tuple[int, int, int]]]) -> None:
    """``write_user_lists`` for several users in one round trip (``rebuild_redis``'s batches)."""
    pipe = get_redis().pipeline(transaction=False)
    for user_id, entries in entries_by_user.items():
        if entries:
            pipe.zadd(convs_key(user_id), {str(cid): last for cid, _, last in entries}, gt=True)
            pipe.hset(peers_key(user_id), mapping={cid: peer for cid, peer, _ in entries})
        pipe.set(ready_key(user_id), 1)
    pipe.execute()


# What ``rebuild_redis`` drops: everything here is derived from the database.
DERIVED_KEY_PATTERNS = (
    "{u:*}:convs",
    "{u:*}:convs:ready",
    "{u:*}:convs:rebuilding",
    "{u:*}:peers",
    "{u:*}:peer_read",
    "{u:*}:peer_read:ready",
    "{c:*}:recent",
    "{u:*}:convset",
)


# --- conversation settings (PROTOCOL.md 1.2) --------------------------------------
# ``{u:<id>}:convset``: hash caching the user's settings from
# t_conversation_setting, conversation id -> "<muted><pinned><archived>" as
# 0/1 digits, plus "ready" once built. ``{u:<id>}:convset:v`` counts changes: a
# change bumps it and drops the hash, and a rebuild writes only if the counter
# is still the one it read before reading the database (a rebuild that raced
# a change never stores the old state).


class Setting(NamedTuple):
    muted: bool
    pinned: bool
    archived: bool


DEFAULT_SETTING = Setting(False, False, False)

_WRITE_SETTINGS_IF_UNCHANGED = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


def settings_key(user_id: int) -> str:
    return key(user_tag(user_id), "convset")


def settings_version_key(user_id: int) -> str:
    return key(user_tag(user_id), "convset", "v")


def queue_settings_reads(pipe, user_id: int) -> None:
    pipe.get(settings_version_key(user_id))
    pipe.hgetall(settings_key(user_id))


def parse_settings_reads(replies: list) -> tuple[str, dict[int, Setting] | None]:
    """(the change counter, {conversation_id: Setting} or None when the hash must be rebuilt)."""
    version, fields = replies
    if "ready" not in fields:
        return version or "0", None
    return version or "0", {
        int(cid): Setting(*(flag == "1" for flag in value)) for cid, value in fields.items() if cid != "ready"
    }


def write_settings(user_id: int, version: str, found: dict[int, Setting]) -> None:
    args: list[str | int] = ["ready", 1]
    for cid, setting in found.items():
        args += [cid, "".join("1" if flag else "0" for flag in setting)]
    get_redis().eval(
        _WRITE_SETTINGS_IF_UNCHANGED, 2, settings_key(user_id), settings_version_key(user_id), version, *args
    )


def forget_settings(user_id: int) -> None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(settings_version_key(user_id))
    pipe.delete(settings_key(user_id))
    pipe.execute()


def scores(user_id: int, conversation_ids: list[int]) -> dict[int, int]:
    """The newest msg id of each of these conversations in the user's list (those listed)."""
    if not conversation_ids:
        return {}
    values = cast("list[float | None]", get_redis().zmscore(convs_key(user_id), [str(c) for c in conversation_ids]))
    return {cid: int(score) for cid, score in zip(conversation_ids, values, strict=True) if score is not None}
