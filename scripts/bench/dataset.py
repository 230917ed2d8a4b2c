"""Issue 19's data set "a year old": users, conversations and messages with a long tail, loaded fast.

    python -m scripts.bench.dataset                       # the full size (BENCH_SCALE_* below)
    python -m scripts.bench.dataset --messages 1000 --users 50 --conversations 200 --big-size 300 --big-unread 50

Everything is generated from one seed (the same arguments give the same rows)
and written as tab-separated files that ``LOAD DATA LOCAL INFILE`` reads, in
the schema `manage.py migrate` makes, into a database of its own
(``BENCH_SCALE_DB``, default ``chat_scale``). Resumable: each table's load is
one statement (atomic), messages go in chunks of ``--chunk`` rows by primary
key, and a re-run skips what is there (it regenerates the rows it skips,
which costs CPU, not database time).

What it makes, and how it is consistent with the app:
- users ``1..U`` (``s<id>``, unusable password); user rank = id, and a user's
  share of conversations falls as ``(id + 10) ** -0.75``: user 1 has thousands
  of conversations, the median user a handful;
- conversations ``1..C`` (distinct pairs, ``user_low < user_high``); the first
  ``--big-conversations`` get ``--big-size`` messages each (conversation 1 is
  users 1 and 2), every other one at least one, the rest spread by a Pareto
  weight;
- messages in time order from 2026-01-02 (the id epoch is 2026-01-01, so ids
  cannot be older) to an hour ago, evenly spaced; ``msgId`` has the layout of
  ``messaging.ids`` (milliseconds, worker 63, sequence 0): 53 bits, unique,
  increasing with time;
- read state: each user has read everything received before their own read
  horizon (exponential, mean two days before the end); received after their
  ``last_seen`` and unread means ``offline``. In conversation 1, user 2's last
  ``--big-unread`` received messages are unread (the mark-read measurement);
- ``t_conversation.last_msg_id``, ``t_unread_counter`` (received, read, the
  largest read id, a positive version) and ``t_msg_stream`` (largest id sent
  or received) are computed from the same rows, so they equal a recount;
- message text: slices of one fixed text of everyday English words, about
  one word in ten a Chinese or Japanese phrase written without spaces, and
  ``RARE_WORD`` in three places (a few messages in ten thousand): what the
  search measurement asks for;
- the search index (``t_search_gram``), built last by the app's own
  backfill (`manage.py backfill_search`, migration 0012's), its time kept as
  ``search_index_seconds`` in dataset.json (``BENCH_SCALE_SEARCH=off``: not built).
"""

# ruff: noqa: S311 - a seeded, reproducible data set: no secret anywhere
import argparse
import array
import bisect
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ["BENCH_DB_NAME"] = os.environ.get("BENCH_SCALE_DB", "chat_scale")
os.environ["BENCH_PREFIX"] = os.environ.get("BENCH_SCALE_PREFIX", "scale")

import MySQLdb

from . import system

ID_EPOCH_MS = 1767225600000  # messaging.ids.ID_EPOCH_MS (2026-01-01T00:00:00Z)
TIME_SHIFT = 13  # worker and sequence bits
WORKER = 63
DAY_MS = 86_400_000
WORDS = [
    "ok",
    "sure",
    "thanks",
    "see",
    "you",
    "later",
    "tomorrow",
    "lunch",
    "call",
    "me",
    "when",
    "you",
    "can",
    "did",
    "you",
    "see",
    "the",
    "news",
    "where",
    "are",
    "you",
    "on",
    "my",
    "way",
    "running",
    "late",
    "sounds",
    "good",
    "let",
    "me",
    "check",
    "haha",
    "yes",
    "no",
    "maybe",
    "great",
    "idea",
    "the",
    "meeting",
    "moved",
    "to",
    "three",
    "send",
    "me",
    "the",
    "file",
    "again",
    "please",
    "love",
    "it",
]
# Chinese and Japanese phrases (no spaces inside: search finds their substrings), about one word in ten.
CJK_PHRASES = [
    "我们明天去北京吃饭",
    "今天天气很好",
    "谢谢你的帮助",
    "周末一起去上海玩",
    "会议改到下午三点",
    "东京で会いましょう",
    "ありがとうございます",
    "晚上给我打电话",
]
# A word in a handful of places of the text, so in a few messages in ten thousand (search's rare word).
RARE_WORD = "zanzibar"


def _text() -> str:
    rng = random.Random(7)
    words = [rng.choice(CJK_PHRASES) if rng.random() < 0.1 else rng.choice(WORDS) for _ in range(20000)]
    for place in (2_500, 9_000, 16_500):
        words[place] = RARE_WORD
    return " ".join(words)


TEXT = _text()


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Size:
    users: int = env_int("BENCH_SCALE_USERS", 100_000)
    conversations: int = env_int("BENCH_SCALE_CONVERSATIONS", 1_000_000)
    messages: int = env_int("BENCH_SCALE_MESSAGES", 10_000_000)
    big_conversations: int = env_int("BENCH_SCALE_BIG_CONVERSATIONS", 3)
    big_size: int = env_int("BENCH_SCALE_BIG_SIZE", 100_000)
    big_unread: int = env_int("BENCH_SCALE_BIG_UNREAD", 10_000)
    seed: int = env_int("BENCH_SCALE_SEED", 19)
    chunk: int = env_int("BENCH_SCALE_CHUNK", 250_000)
    end_ms: int = 0  # the newest message's time; 0: an hour before the first run (kept in the database)

    def check(self) -> None:
        if self.users < 3:
            raise SystemExit("at least 3 users")
        if self.conversations > self.users * (self.users - 1) // 2 // 2:
            raise SystemExit("too many conversations for so few users (at most a quarter of all pairs)")
        if self.messages < self.conversations - self.big_conversations + self.big_conversations * self.big_size:
            raise SystemExit("messages must cover one per conversation plus the big ones")
        if not 1 <= self.big_conversations <= self.conversations:
            raise SystemExit("at least one big conversation")
        if self.big_unread * 3 > self.big_size:
            raise SystemExit("--big-unread must be below a third of --big-size")


def say(text: str) -> None:
    print(f"[dataset {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def connect(db: bool = True):
    args = system.database_args()
    if not db:
        args.pop("db")
    conn = MySQLdb.connect(**args, local_infile=1, charset="utf8mb4", autocommit=True)
    cursor = conn.cursor()
    cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
    return conn


def stamp(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def msg_id_at(ms: int) -> int:
    return ((ms - ID_EPOCH_MS) << TIME_SHIFT) | (WORKER << 7)


# --- the plan: who talks to whom, and how much (no message rows yet) -------------------------------


class Plan:
    def __init__(self, size: Size) -> None:
        self.size = size
        rng = random.Random(size.seed)
        users = size.users
        cum: list[float] = []
        total = 0.0
        for rank in range(1, users + 1):
            total += (rank + 10) ** -0.75
            cum.append(total)

        def pick() -> int:
            return bisect.bisect_left(cum, rng.random() * total) + 1

        pairs: dict[tuple[int, int], None] = {(1, 2): None}
        while len(pairs) < size.conversations:
            a, b = pick(), pick()
            if a != b:
                pairs.setdefault((min(a, b), max(a, b)), None)
        self.low = array.array("i", (p[0] for p in pairs))
        self.high = array.array("i", (p[1] for p in pairs))
        del pairs
        # Messages per conversation: the big ones, then one each plus a Pareto share of the rest.
        count = array.array("i", [1]) * size.conversations
        for c in range(size.big_conversations):
            count[c] = size.big_size
        rest = size.messages - sum(count)
        weights = [0.0] * size.big_conversations + [
            min(rng.paretovariate(1.1), 1e6) for _ in range(size.big_conversations, size.conversations)
        ]
        wsum = sum(weights) or 1.0
        given = 0
        for c in range(size.big_conversations, size.conversations):
            extra = min(int(weights[c] / wsum * rest), size.big_size - 1)
            count[c] += extra
            given += extra
        small = range(size.big_conversations, size.conversations)
        for _ in range(rest - given):
            count[rng.choice(small) if small else 0] += 1
        self.count = count
        # Time order: conversation index (0-based) of every message, shuffled.
        order = array.array("i")
        for c, n in enumerate(count):
            order.extend(array.array("i", [c]) * n)
        rng.shuffle(order)
        self.order = order
        # Direction: 1 = user_low sends. Per user: read horizon and last seen.
        self.rng_state = rng.getstate()

    def landmarks(self) -> dict:
        return {
            "largest_conversation": 1,
            "largest_conversation_users": [1, 2],
            "largest_conversation_messages": self.count[0],
            "big_unread_user": 2,
            "heavy_user": 1,
        }


def span(size: Size) -> tuple[int, int]:
    start = ID_EPOCH_MS + DAY_MS
    return start, size.end_ms


# --- loading -------------------------------------------------------------------------------------


class Loader:
    def __init__(self, size: Size, workdir: Path) -> None:
        self.size = size
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conn = connect()

    def one(self, sql: str, args=None):
        cursor = self.conn.cursor()
        cursor.execute(sql, args)
        return cursor.fetchone()

    def load(self, table: str, columns: list[str], path: Path, replace: bool = False) -> None:
        started = time.monotonic()
        cursor = self.conn.cursor()
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s {'REPLACE' if replace else 'IGNORE'} INTO TABLE `{table}`"
            " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
            f" ({', '.join(f'`{c}`' for c in columns)})",
            [str(path)],
        )
        say(f"{table}: {cursor.rowcount} rows from {path.name} in {time.monotonic() - started:.1f} s")
        path.unlink()

    def is_complete(self, size: Size) -> bool:
        """Every table holds what the data set puts there (a cheap check: ids and counts, indexes there)."""
        return (
            self.one("SELECT COALESCE(MAX(id), 0) FROM t_msg_record_list")[0] >= size.messages
            and self.count("t_conversation") == size.conversations
            and self.count("t_user") >= size.users
            and self.count("t_unread_counter") > 0
            and self.count("t_msg_stream") > 0
            and len(self.secondary(self.create_table())) >= 8
        )

    def fill_revs(self, batch: int = 100_000) -> None:
        """A set loaded before the loader wrote ``rev`` has 0 there: set each row's to its id, in batches."""
        if not self.one("SELECT EXISTS (SELECT 1 FROM t_msg_record_list WHERE rev = 0)")[0]:
            return
        started, last = time.monotonic(), self.one("SELECT MAX(id) FROM t_msg_record_list")[0]
        cursor = self.conn.cursor()
        for start in range(0, last, batch):
            cursor.execute(  # autocommit: one transaction per batch
                "UPDATE t_msg_record_list SET rev = msgId WHERE id > %s AND id <= %s AND rev = 0",
                [start, start + batch],
            )
        say(f"rev set to msgId on the rows an earlier loader left at 0, in {time.monotonic() - started:.1f} s")

    def count(self, table: str) -> int:
        return self.one(f"SELECT COUNT(*) FROM `{table}`")[0]

    # The message table's secondary indexes and foreign keys are dropped for the load and built
    # again at the end, sorted (InnoDB's bulk index build): inserting ten million rows into eight
    # B-trees at random places runs at the speed of the buffer pool's misses (a 128 MiB pool here
    # fell from 40,000 to 1,500 rows a second by the third chunk). The table ends exactly as
    # `migrate` made it: its CREATE TABLE is kept in dataset.json and compared at the end.
    index_lines: list[str] | None = None

    def create_table(self) -> str:
        text = self.one("SHOW CREATE TABLE t_msg_record_list")[1]
        return re.sub(r" AUTO_INCREMENT=\d+", "", text)

    def secondary(self, create: str) -> list[str]:
        return [
            line.strip().rstrip(",")
            for line in create.splitlines()
            if line.strip().startswith(("UNIQUE KEY", "KEY", "CONSTRAINT"))
        ]

    def defer_indexes(self) -> None:
        lines = self.secondary(self.create_table())
        self.index_lines = lines
        if lines:
            say("dropping the message table's secondary indexes and foreign keys for the load")
            self.one("ALTER TABLE t_msg_record_list " + ", ".join(self._drops(lines)))

    @staticmethod
    def _drops(lines: list[str]) -> list[str]:
        drops: list[str] = []
        for line in lines:
            words = line.split()
            if words[0] == "CONSTRAINT":
                drops.insert(0, f"DROP FOREIGN KEY {words[1]}")
            else:
                name = words[2] if words[0] == "UNIQUE" else words[1]
                drops.append(f"DROP INDEX {name}")
        return drops

    def restore_indexes(self, wanted: str) -> None:
        have = set(self.secondary(self.create_table()))
        missing = [line for line in self.secondary(wanted) if line not in have]
        keys = [f"ADD {line}" for line in missing if not line.startswith("CONSTRAINT")]
        fks = [f"ADD {line}" for line in missing if line.startswith("CONSTRAINT")]
        for what, clauses in (("indexes", keys), ("foreign keys", fks)):
            if clauses:
                started = time.monotonic()
                self.one("ALTER TABLE t_msg_record_list " + ", ".join(clauses))
                say(f"t_msg_record_list: {len(clauses)} {what} built in {time.monotonic() - started:.1f} s")
        if set(self.secondary(self.create_table())) != set(self.secondary(wanted)):
            raise SystemExit("t_msg_record_list does not have the schema migrate made")


def run(size: Size, workdir: Path) -> dict:
    size.check()
    started = time.monotonic()
    system.prepare_database()
    loader = Loader(size, workdir)
    meta_path = workdir / "dataset.json"
    # The time axis is fixed at the first run (a resume must produce the same ids).
    if meta_path.exists() and loader.count("t_user"):
        saved = json.loads(meta_path.read_text())

        def shape(s: dict) -> dict:
            return {k: v for k, v in s.items() if k not in ("chunk", "end_ms")}

        if shape(saved["size"]) != shape(asdict(size)):
            raise SystemExit(f"{system.DB_NAME} holds a data set of other sizes ({saved['size']}); drop it first")
        size.end_ms = saved["size"]["end_ms"]
        if saved.get("complete") and loader.is_complete(size):
            say(f"{system.DB_NAME} holds this data set already (loaded in {saved['seconds']} s)")
            loader.fill_revs()
            return index_for_search(saved, meta_path)
    else:
        if loader.count("t_user") or loader.count("t_msg_record_list"):
            raise SystemExit(f"{system.DB_NAME} is not empty and has no {meta_path}: drop it first")
        size.end_ms = (int(time.time() * 1000) - 3_600_000) // 1000 * 1000
    meta: dict = {"size": asdict(size), "database": system.DB_NAME}
    if meta_path.exists():
        meta["create_table"] = json.loads(meta_path.read_text()).get("create_table")
    meta["create_table"] = meta.get("create_table") or loader.create_table()
    meta_path.write_text(json.dumps(meta, indent=2))
    if span(size)[1] - span(size)[0] < size.messages:
        raise SystemExit("more messages than milliseconds since 2026-01-02")

    say(f"planning {size.users} users, {size.conversations} conversations, {size.messages} messages")
    plan = Plan(size)
    meta["landmarks"] = plan.landmarks()
    rng = random.Random()
    rng.setstate(plan.rng_state)
    start_ms, end_ms = span(size)
    horizon = array.array("q", [0]) * (size.users + 1)
    last_seen = array.array("q", [0]) * (size.users + 1)
    for user in range(1, size.users + 1):
        horizon[user] = end_ms - int(rng.expovariate(1 / (2 * DAY_MS)))
        online = rng.random() < 0.3
        last_seen[user] = end_ms if online else min(end_ms, horizon[user] + int(rng.expovariate(1 / 3_600_000)))
    # User 1 (the heavy one) was away for a day: offline messages to pull.
    horizon[1] = last_seen[1] = end_ms - DAY_MS

    if loader.count("t_user") < size.users:
        path = workdir / "users.tsv"
        with open(path, "w") as out:
            for user in range(1, size.users + 1):
                seen = "\\N" if last_seen[user] == end_ms else stamp(last_seen[user])
                out.write(f"{user}\t!\t\\N\t0\ts{user}\t\t\t\t0\t1\t{stamp(start_ms)}\tUser {user}\t\t{seen}\n")
        loader.load(
            "t_user",
            [
                "id", "password", "last_login", "is_superuser", "username", "first_name", "last_name",
                "email", "is_staff", "is_active", "date_joined", "nickname", "avatar_url", "last_seen",
            ],
            path,
        )  # fmt: skip

    # The message rows, chunk by chunk; the counters and stream rows as they go.
    messages = size.messages
    step = (end_ms - start_ms) // messages
    loaded = loader.one("SELECT COALESCE(MAX(id), 0) FROM t_msg_record_list")[0]
    last_in = array.array("q", [0]) * size.conversations
    # (conversation index, recipient is user_low) -> received, read, largest read id
    received = array.array("i", [0]) * (2 * size.conversations)
    read = array.array("i", [0]) * (2 * size.conversations)
    last_read = array.array("q", [0]) * (2 * size.conversations)
    stream = array.array("q", [0]) * (size.users + 1)
    # Conversation 1: user 2's (user_high) received messages; the last big_unread of them stay unread.
    to_user_2 = 0
    directions = [rng.random() < 0.5 for _ in range(plan.count[0])]
    unread_from = sum(1 for d in directions if d) - size.big_unread
    big_index = 0
    low_arr, high_arr, order = plan.low, plan.high, plan.order
    chunk_file = None
    chunk_path = workdir / "messages.tsv"
    columns = [
        "id", "msgId", "isRead", "recordStatus", "createTime", "content", "client_msg_id", "offline",
        "fan_out_done", "recipient_id", "sender_id", "sessionId", "recalled_by", "rev",
    ]  # fmt: skip
    text_len = len(TEXT)
    say(f"messages: {loaded} of {messages} already loaded")
    t0 = time.monotonic()
    for k in range(messages):
        c = order[k]
        ms = start_ms + k * step
        msg_id = msg_id_at(ms)
        if c == 0:
            low_sends = directions[big_index]
            big_index += 1
        else:
            low_sends = rng.random() < 0.5
        low, high = low_arr[c], high_arr[c]
        sender, recipient = (low, high) if low_sends else (high, low)
        slot = 2 * c + (0 if low_sends else 1)  # recipient is user_high at 2c, user_low at 2c+1
        is_read = ms < horizon[recipient]
        if c == 0 and recipient == 2:
            is_read = to_user_2 < unread_from
            to_user_2 += 1
        offline = not is_read and ms > last_seen[recipient]
        length = min(2000, max(1, int(rng.lognormvariate(3.3, 0.8))))
        offset = rng.randrange(text_len - 2000)
        cmid = rng.getrandbits(128)
        last_in[c] = msg_id
        received[slot] += 1
        if is_read:
            read[slot] += 1
            last_read[slot] = msg_id
        stream[sender] = stream[recipient] = msg_id
        row_id = k + 1
        if row_id > loaded:
            if chunk_file is None:
                chunk_file = open(chunk_path, "w")  # noqa: SIM115 - closed below, per chunk
            content = TEXT[offset : offset + length].strip() or "ok"
            chunk_file.write(
                f"{row_id}\t{msg_id}\t{int(is_read)}\t0\t{stamp(ms)}\t{content}\t{cmid:032x}\t{int(offline)}"
                f"\t1\t{recipient}\t{sender}\t{c + 1}\t\t{msg_id}\n"  # rev: a new message's is its id
            )
        if (row_id % size.chunk == 0 or row_id == messages) and chunk_file is not None:
            chunk_file.close()
            chunk_file = None
            # Foreign keys are off for the load (the conversations come after the messages, with
            # their last_msg_id); the test checks every row against its conversation.
            if loader.index_lines is None:
                loader.defer_indexes()
            loader.load("t_msg_record_list", columns, chunk_path)
            rate = row_id / (time.monotonic() - t0)
            say(f"messages: {row_id} of {messages} ({rate:.0f} rows/s generated and loaded)")

    loader.restore_indexes(meta["create_table"])

    if loader.count("t_conversation") < size.conversations:
        path = workdir / "conversations.tsv"
        created = stamp(start_ms)
        with open(path, "w") as out:
            for c in range(size.conversations):
                out.write(f"{c + 1}\t{last_in[c]}\t{created}\t{high_arr[c]}\t{low_arr[c]}\n")
        loader.load("t_conversation", ["id", "last_msg_id", "created_at", "user_high_id", "user_low_id"], path)

    if not loader.count("t_unread_counter"):
        path = workdir / "counters.tsv"
        with open(path, "w") as out:
            for slot in range(2 * size.conversations):
                if received[slot]:
                    c = slot // 2
                    user = high_arr[c] if slot % 2 == 0 else low_arr[c]
                    version = received[slot] + (1 if read[slot] else 0)
                    out.write(
                        f"{slot + 1}\t{received[slot]}\t{read[slot]}\t{last_read[slot]}\t{last_read[slot]}"
                        f"\t{version}\t{c + 1}\t{user}\n"
                    )
        # The read receipt (read_receipt_msg_id) is the newest read message received, which is
        # the read position here: every position is a read message's id.
        loader.load(
            "t_unread_counter",
            [
                "id",
                "received",
                "read",
                "last_read_msg_id",
                "read_receipt_msg_id",
                "version",
                "conversation_id",
                "user_id",
            ],
            path,
        )

    if not loader.count("t_msg_stream"):
        path = workdir / "streams.tsv"
        with open(path, "w") as out:
            for user in range(1, size.users + 1):
                if stream[user]:
                    out.write(f"{user}\t{stream[user]}\n")
        loader.load("t_msg_stream", ["user_id", "last_msg_id"], path)

    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["complete"] = True
    meta_path.write_text(json.dumps(meta, indent=2))
    say(f"done in {meta['seconds']} s")
    return index_for_search(meta, meta_path)


# "off": no search index (and no search measurement): its build is the longest step at ten million messages.
SEARCH = os.environ.get("BENCH_SCALE_SEARCH", "on") != "off"


def index_for_search(meta: dict, meta_path: Path) -> dict:
    """The search index, built by the app's own backfill (migration 0012's), timed: its cost on this data set.

    Run again whole if a load stopped during it (the backfill is idempotent).
    """
    if not SEARCH or meta.get("search_index_seconds") is not None:
        return meta
    say("search index: manage.py backfill_search")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "backfill_search"], cwd=system.ROOT, env=system.bench_env(), check=True
    )
    meta["search_index_seconds"] = round(time.monotonic() - started, 1)
    meta_path.write_text(json.dumps(meta, indent=2))
    say(f"search index built in {meta['search_index_seconds']} s")
    return meta


def default_workdir() -> str:
    return str(Path(tempfile.gettempdir()) / f"chat-dataset-{system.DB_NAME}")


def main(argv: list[str] | None = None) -> int:
    defaults = Size()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("users", "conversations", "messages", "big_conversations", "big_size", "big_unread", "seed", "chunk"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    parser.add_argument(
        "--workdir",
        default=os.environ.get("BENCH_SCALE_DIR") or default_workdir(),
        help="where the files to load and dataset.json (the sizes and landmarks) go",
    )
    args = parser.parse_args(argv)
    size = Size(**{k: v for k, v in vars(args).items() if k != "workdir"})
    meta = run(size, Path(args.workdir))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
