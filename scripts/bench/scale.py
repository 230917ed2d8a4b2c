"""The `scale` phase (issue 19): the reads and writes users wait for, on a data set a year old.

    python -m scripts.bench.scale            # loads (or continues loading) the data set, then measures

Sized by the same BENCH_SCALE_* variables as ``scripts.bench.dataset`` (which
it runs first: a data set already there is skipped in seconds), in the same
database (``BENCH_SCALE_DB``, default ``chat_scale``) and Redis prefix
(``BENCH_SCALE_PREFIX``, default ``scale``). It then starts the system as
`make bench` does and measures over HTTP, p50/p99 over BENCH_SCALE_CALLS
sequential calls on one kept-alive connection:

- warm: the conversation list of the heaviest user and of a typical one
  (``limit=50``), the first and a deep history page of the largest
  conversation, ``sync`` from a cursor half a year old, ``offline``, a send
  into the largest conversation, and marking 10,000 unread messages read
  (BENCH_SCALE_READS times; the rows are made unread again in between, with
  their counter, in one transaction);
- cold: each call after the keys it reads were deleted (the user's, their
  first page's recent windows and profiles), and the first call after all of
  the prefix's keys were flushed and after `rebuild_redis`;
- search (``GET search``, limit 20) for the heaviest user and the typical
  one: a common word, the data set's rare word, a word found nowhere, a
  Chinese word inside phrases without spaces, two words together and one
  letter (not with ``BENCH_SCALE_SEARCH=off``);
- `rebuild_redis`'s time for every user, Redis bytes per user and per
  message (the footprint phase), and the database's bytes per message and
  the search index's.

Writes ``BENCH_SCALE_OUT`` (default ``bench-scale.json``).
"""

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import redis

from . import (
    dataset,  # sets BENCH_DB_NAME and BENCH_PREFIX for ``system``
    footprint,
    system,
    users,
)
from .load import percentiles

CALLS = int(os.environ.get("BENCH_SCALE_CALLS") or 200)
READS = int(os.environ.get("BENCH_SCALE_READS") or 10)
COLD = int(os.environ.get("BENCH_SCALE_COLD") or 20)
OUT = os.environ.get("BENCH_SCALE_OUT", "bench-scale.json")


def say(text: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Db:
    def __init__(self) -> None:
        self.conn = dataset.connect()

    def all(self, sql: str, args=None) -> list[tuple]:
        cursor = self.conn.cursor()
        cursor.execute(sql, args)
        return list(cursor.fetchall())

    def one(self, sql: str, args=None):
        return self.all(sql, args)[0]


def token_for(db: Db, user_id: int) -> str:
    found = db.all("SELECT `key` FROM authtoken_token WHERE user_id = %s", [user_id])
    if found:
        return found[0][0]
    key = secrets.token_hex(20)
    db.all("INSERT INTO authtoken_token (`key`, created, user_id) VALUES (%s, NOW(6), %s)", [key, user_id])
    return key


def degree(db: Db, user_id: int) -> int:
    low = db.one("SELECT COUNT(*) FROM t_conversation WHERE user_low_id = %s", [user_id])[0]
    high = db.one("SELECT COUNT(*) FROM t_conversation WHERE user_high_id = %s", [user_id])[0]
    return low + high


def typical_user(db: Db, users_count: int) -> tuple[int, int]:
    """The user of median degree among 101 spread over the ids (the ranks of the long tail)."""
    step = max(1, users_count // 101)
    sample = sorted((degree(db, u), u) for u in range(max(3, step // 2), users_count + 1, step)[:101])
    found, user = sample[len(sample) // 2]
    return user, found


def half_year_cursor(size: dict) -> int:
    """The ``sync`` cursor the phase reads from: a msg_id half a year before the data set's end."""
    return dataset.msg_id_at(size["end_ms"] - 182 * dataset.DAY_MS)


def time_calls(api: users.Api, method: str, path: str, body=None, calls: int = CALLS) -> dict:
    """Percentiles of the time to each answer's last byte (not its decoding, which is the client's work)."""
    for _ in range(min(10, calls)):
        api.fetch(method, path, body() if callable(body) else body)
    seconds = []
    for _ in range(calls):
        payload = body() if callable(body) else body
        started = time.perf_counter()
        api.fetch(method, path, payload)
        seconds.append(time.perf_counter() - started)
    return percentiles(seconds)


def redis_client():
    return redis.Redis.from_url(system.REDIS_URL, decode_responses=True)


def forget_user(client, user_id: int, conversation_ids: list[int], peer_ids: list[int]) -> None:
    """Delete what a conversation page of ``user_id`` reads: cold for this user, warm for everyone else."""
    names = list(client.scan_iter(match=f"{system.PREFIX}:{{u:{user_id}}}:*", count=1000))
    names += [f"{system.PREFIX}:{{c:{c}}}:recent" for c in conversation_ids]
    names += [f"{system.PREFIX}:{{p:{p}}}:profile" for p in peer_ids]
    for start in range(0, len(names), 500):
        client.delete(*names[start : start + 500])


def list_state_rebuilt(client, user_id: int) -> bool:
    """The user's unread counters and read receipts are back in Redis, and no rebuild is pending."""
    tag = f"{system.PREFIX}:{{u:{user_id}}}"
    pipe = client.pipeline(transaction=False)
    pipe.exists(f"{tag}:unread:ready")
    pipe.exists(f"{tag}:peer_read:ready")
    pipe.exists(f"{tag}:convs:rebuilding")
    unread_ready, peer_read_ready, pending = pipe.execute()
    return bool(unread_ready and peer_read_ready and not pending)


def cold_list(api: users.Api, client, user_id: int, samples: int) -> dict:
    """The list after the keys it reads were deleted, and how long until the rest was rebuilt in the background.

    A large list answers its page from the database and leaves the rest of
    the user's counters and receipts to a task on the delayed queue
    (conversations/services.py): each sample waits for that task, so that
    the next one starts cold again and competes with nothing.
    """
    page = api.call("GET", "conversations?limit=50")["results"]
    ids = [c["conversation_id"] for c in page]
    peers = [c["peer"]["user_id"] for c in page]
    seconds, rebuilt = [], []
    for _ in range(samples):
        forget_user(client, user_id, ids, peers)
        started = time.perf_counter()
        api.fetch("GET", "conversations?limit=50")
        seconds.append(time.perf_counter() - started)
        deadline = time.monotonic() + 60
        while not list_state_rebuilt(client, user_id) and time.monotonic() < deadline:
            time.sleep(0.005)
        rebuilt.append(time.perf_counter() - started)
    return {**percentiles(seconds), "rebuilt_in_background_ms": percentiles(rebuilt)}


def first_call(api: users.Api, path: str) -> float:
    started = time.perf_counter()
    api.fetch("GET", path)
    return round((time.perf_counter() - started) * 1000, 1)


# The search queries (scripts/bench/dataset.py's text): name -> q.
SEARCHES = {
    "common_word": "you",
    "rare_word": dataset.RARE_WORD,
    "no_match": "xylophone",
    "cjk_word": "北京",
    "two_words": "lunch tomorrow",
    "one_character": "k",
}


def user_messages(db: Db, user_id: int) -> int:
    return db.one("SELECT COUNT(*) FROM t_msg_record_list WHERE sender_id = %s OR recipient_id = %s", [user_id] * 2)[0]


def search_trials(api: users.Api, user_id: int, db: Db) -> dict:
    """p50/p99 of each query for one user, with how many messages its first page holds."""
    report: dict = {"user_id": user_id, "user_messages": user_messages(db, user_id)}
    for name, q in SEARCHES.items():
        path = "search?" + urlencode({"q": q, "limit": 20})
        timing = time_calls(api, "GET", path)
        timing["first_page_results"] = len(api.call("GET", path)["results"])
        report[name] = timing
    return report


def mark_read_trials(api: users.Api, db: Db, conversation: int, reader: int, count: int, trials: int) -> dict:
    """Mark ``count`` unread messages read, ``trials`` times; unread again in between (rows and counter together)."""
    newest = db.all(
        "SELECT msgId FROM t_msg_record_list WHERE sessionId = %s AND recipient_id = %s ORDER BY msgId DESC LIMIT %s",
        [conversation, reader, count],
    )
    low, up_to = newest[-1][0], newest[0][0]
    seconds, flipped = [], []
    for _ in range(trials):
        cursor = db.conn.cursor()
        cursor.execute("START TRANSACTION")
        cursor.execute(
            "SELECT `read` FROM t_unread_counter WHERE conversation_id = %s AND user_id = %s FOR UPDATE",
            [conversation, reader],
        )
        made_unread = cursor.execute(
            "UPDATE t_msg_record_list SET isRead = 0 WHERE sessionId = %s AND recipient_id = %s"
            " AND msgId BETWEEN %s AND %s AND isRead",
            [conversation, reader, low, up_to],
        )
        cursor.execute(
            "UPDATE t_unread_counter SET `read` = `read` - %s, version = version + 1"
            " WHERE conversation_id = %s AND user_id = %s",
            [made_unread, conversation, reader],
        )
        cursor.execute("COMMIT")
        started = time.perf_counter()
        answer = api.call("POST", f"conversations/{conversation}/read", {"up_to": up_to})
        seconds.append(time.perf_counter() - started)
        flipped.append(answer["unread"])
    result = percentiles(seconds)
    result["messages_marked"] = count
    return result


def rebuild_redis(extra: list[str] | None = None) -> dict:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "rebuild_redis", *(extra or [])],
        cwd=system.ROOT,
        env=system.bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {"seconds": round(time.monotonic() - started, 1), "output": done.stdout.strip()}


def put_back_offline(db: Db, client, user_id: int, size: dict) -> int:
    """Make the measurement's own sends to ``user_id`` (every message after the data set's end) no longer offline.

    The user has no socket, so each send into the largest conversation
    stays offline for them: without this each run measured ``offline`` on
    110 more messages than the last. Their Redis index is dropped, to be
    rebuilt from the database when next read. Returns how many were put back.
    """
    end = dataset.msg_id_at(size["end_ms"])
    with db.conn.cursor() as cursor:
        cursor.execute(
            "UPDATE t_msg_record_list SET offline = 0 WHERE recipient_id = %s AND offline = 1 AND msgId > %s",
            [user_id, end],
        )
        changed = cursor.rowcount
    db.conn.commit()
    names = list(client.scan_iter(match=f"{system.PREFIX}:{{u:{user_id}}}:offline*", count=1000))
    if names:
        client.delete(*names)
    return changed


def measure(meta: dict) -> dict:
    db = Db()
    size = meta["size"]
    marks = meta["landmarks"]
    heavy, peer, big = marks["heavy_user"], marks["big_unread_user"], marks["largest_conversation"]
    typical, typical_degree = typical_user(db, size["users"])
    tokens = {u: token_for(db, u) for u in (heavy, peer, typical)}
    deep_before = db.one(
        "SELECT msgId FROM t_msg_record_list WHERE sessionId = %s ORDER BY msgId LIMIT 1 OFFSET %s",
        [big, max(0, marks["largest_conversation_messages"] // 20)],
    )[0]
    half_year = half_year_cursor(size)
    report: dict = {
        "data": {
            **{k: size[k] for k in ("users", "conversations", "messages")},
            "heavy_user_conversations": degree(db, heavy),
            "typical_user_conversations": typical_degree,
            "largest_conversation_messages": marks["largest_conversation_messages"],
        },
        "machine": {
            "cores": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            # What a cold read costs depends on it: at 128 MiB a heavy user's cold list read its
            # counters from disk (docs/benchmarks.md, "A data set a year old").
            "innodb_buffer_pool_mb": int(db.one("SELECT @@innodb_buffer_pool_size")[0]) // 2**20,
        },
    }
    client = redis_client()
    put_back_offline(db, client, heavy, size)  # what an earlier run's sends left
    system.clear_redis()
    say("rebuild_redis of every user")
    report["rebuild_redis"] = rebuild_redis()
    say(f"rebuild_redis: {report['rebuild_redis']}")
    port = system.free_port()
    command = system.launcher_command(port)
    say(f"starting `{command}`")
    service = system.Service("scale", command, port, system.bench_env())
    try:
        say(f"every process started and idle after {service.wait_until_idle()} s")
        api = {u: users.Api(port, t) for u, t in tokens.items()}
        paths = {
            "conversation_list_heavy_ms": (heavy, "conversations?limit=50"),
            "conversation_list_typical_ms": (typical, "conversations?limit=50"),
            "history_first_page_ms": (heavy, f"conversations/{big}/messages?limit=50"),
            "history_deep_page_ms": (heavy, f"conversations/{big}/messages?limit=50&before={deep_before}"),
            "sync_old_cursor_ms": (heavy, f"sync?since={half_year}"),
            "offline_ms": (heavy, "offline"),
        }
        after_rebuild = {key: first_call(api[u], path) for key, (u, path) in paths.items()}
        report["first_call_after_rebuild_ms"] = after_rebuild
        say(f"first calls after rebuild_redis: {after_rebuild}")
        warm = {}
        for key, (u, path) in paths.items():
            warm[key] = time_calls(api[u], "GET", path)
            say(f"warm {key}: {warm[key]}")
        sizes = {
            "sync_messages": len(api[heavy].call("GET", paths["sync_old_cursor_ms"][1])["results"]),
            "offline_messages": sum(len(g["messages"]) for g in api[heavy].call("GET", "offline")["results"]),
        }
        report["warm"] = warm
        report["answer_sizes"] = sizes
        if dataset.SEARCH:
            report["search_ms"] = {
                "heavy_user": search_trials(api[heavy], heavy, db),
                "typical_user": search_trials(api[typical], typical, db),
            }
            say(f"search: {report['search_ms']}")

        def send_body() -> dict:
            return {"to": heavy, "content": "still there?", "client_msg_id": uuid.uuid4().hex}

        report["send_into_largest_ms"] = time_calls(api[peer], "POST", "messages", send_body, calls=min(CALLS, 100))
        say(f"send: {report['send_into_largest_ms']}")
        put_back_offline(db, client, heavy, size)
        report["mark_read_ms"] = mark_read_trials(api[peer], db, big, peer, size["big_unread"], READS)
        say(f"mark read: {report['mark_read_ms']}")
        cold = {
            "conversation_list_heavy_ms": cold_list(api[heavy], client, heavy, COLD),
            "conversation_list_typical_ms": cold_list(api[typical], client, typical, COLD),
        }
        say(f"cold lists: {cold}")
        system.clear_redis()
        cold["first_calls_after_flush_ms"] = {key: first_call(api[u], path) for key, (u, path) in paths.items()}
        say(f"first calls after a flush: {cold['first_calls_after_flush_ms']}")
        report["cold"] = cold
        for a in api.values():
            a.close()
    finally:
        service.stop()
    say("rebuild_redis again, then the footprint")
    report["rebuild_redis_again"] = rebuild_redis()
    report["footprint"] = footprint.measure(lambda: dataset.connect())
    report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> int:
    meta = dataset.run(dataset.Size(), Path(os.environ.get("BENCH_SCALE_DIR") or dataset.default_workdir()))
    report = {"dataset": {k: v for k, v in meta.items() if k != "create_table"}, **measure(meta)}
    report["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(OUT, "w") as out:
        json.dump(report, out, indent=2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
