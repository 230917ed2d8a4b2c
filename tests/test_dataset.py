"""Issue 19's data set (scripts/bench/dataset.py), loaded tiny: consistent with the app, resumable, rebuildable.

The rows must be what the app itself would have written: unread counters
equal a recount, stream rows the largest ids, ``last_msg_id`` the newest
message, ids in the 53-bit layout and increasing with time; a load stopped
halfway continues to the same rows; and `rebuild_redis` (also stopped
halfway and continued) makes every Redis structure match the database.
"""

import json
import os
import subprocess
import sys
import zlib
from collections import defaultdict

import MySQLdb
import pytest
import redis
from django.conf import settings

from messaging import search_index

from .live import ROOT

pytestmark = pytest.mark.e2e

SIZE = ["--users", "40", "--conversations", "150", "--messages", "1000"]
SIZE += ["--big-conversations", "2", "--big-size", "240", "--big-unread", "50", "--chunk", "300"]


@pytest.fixture
def scale_env(tmp_path):
    run = os.environ.get("CHAT_TEST_RUN", str(os.getpid()))
    db_name, prefix = f"test_chat_scale_{run}", f"test{run}scale"
    env = {
        **os.environ,
        "BENCH_SCALE_DB": db_name,
        "BENCH_SCALE_PREFIX": prefix,
        "BENCH_SCALE_DIR": str(tmp_path / "dataset"),
        "CHAT_DB_NAME": db_name,
        "CHAT_REDIS_PREFIX": prefix,
        "CHAT_REDIS_URL": settings.CHAT_REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
    }
    env.pop("CHAT_TEST_RUN", None)
    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
    client = redis.Redis.from_url(settings.CHAT_REDIS_URL, decode_responses=True)
    yield env, conn, db_name, client, prefix
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
    conn.close()
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if names:
        client.delete(*names)
    client.close()


def run(env, *argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows(conn, sql: str) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute(sql)
    return list(cursor.fetchall())


def fingerprint(conn) -> tuple:
    """Every message row and every counter and stream row, as one checksum per table."""
    out = []
    for table, order in (("t_msg_record_list", "id"), ("t_unread_counter", "id"), ("t_msg_stream", "user_id")):
        text = repr(rows(conn, f"SELECT * FROM {table} ORDER BY {order}"))  # noqa: S608 - constant names
        out.append(zlib.crc32(text.encode()))
    return tuple(out)


def check_consistent(conn) -> None:
    assert rows(conn, "SELECT COUNT(*), COUNT(DISTINCT msgId), MAX(msgId) < POW(2, 53) FROM t_msg_record_list") == [
        (1000, 1000, 1)
    ]
    # Ids increase with the row order and with time.
    assert rows(
        conn,
        "SELECT COUNT(*) FROM t_msg_record_list a JOIN t_msg_record_list b ON b.id = a.id + 1"
        " WHERE b.msgId <= a.msgId OR b.createTime < a.createTime",
    ) == [(0,)]
    # Every message is between its conversation's two users; last_msg_id is the newest.
    assert rows(
        conn,
        "SELECT COUNT(*) FROM t_msg_record_list m JOIN t_conversation c ON c.id = m.sessionId"
        " WHERE NOT ((m.sender_id = c.user_low_id AND m.recipient_id = c.user_high_id)"
        " OR (m.sender_id = c.user_high_id AND m.recipient_id = c.user_low_id))",
    ) == [(0,)]
    assert rows(
        conn,
        "SELECT COUNT(*) FROM t_conversation c LEFT JOIN (SELECT sessionId, MAX(msgId) m FROM t_msg_record_list"
        " GROUP BY sessionId) x ON x.sessionId = c.id WHERE NOT c.last_msg_id <=> x.m",
    ) == [(0,)]
    # Counters equal a recount, and one exists exactly for each (conversation, recipient).
    recount = rows(
        conn,
        "SELECT sessionId, recipient_id, COUNT(*), SUM(isRead), MAX(IF(isRead, msgId, 0)), MAX(IF(isRead, msgId, 0))"
        " FROM t_msg_record_list GROUP BY sessionId, recipient_id ORDER BY 1, 2",
    )
    # The read receipt a counter gives (read_receipt_msg_id) is the newest read message too.
    counters = rows(
        conn,
        "SELECT conversation_id, user_id, received, `read`, last_read_msg_id, read_receipt_msg_id"
        " FROM t_unread_counter ORDER BY 1, 2",
    )
    assert [tuple(int(v) for v in r) for r in recount] == [tuple(int(v) for v in r) for r in counters]
    assert rows(conn, "SELECT COUNT(*) FROM t_unread_counter WHERE version < received") == [(0,)]
    # Stream rows: the largest id each user sent or received.
    streams = rows(
        conn,
        "SELECT u, MAX(m) FROM (SELECT sender_id u, msgId m FROM t_msg_record_list UNION ALL"
        " SELECT recipient_id, msgId FROM t_msg_record_list) x GROUP BY u ORDER BY u",
    )
    assert streams == rows(conn, "SELECT user_id, last_msg_id FROM t_msg_stream ORDER BY user_id")
    # Every message's rev is its id, as the send path writes it: sync (by rev) finds them all.
    assert rows(conn, "SELECT COUNT(*) FROM t_msg_record_list WHERE rev <> msgId") == [(0,)]
    # Offline only where unread; the long tail and the mark-read case are there.
    assert rows(conn, "SELECT COUNT(*) FROM t_msg_record_list WHERE offline AND isRead") == [(0,)]
    assert rows(conn, "SELECT COUNT(*) FROM t_msg_record_list WHERE offline") != [(0,)]
    assert rows(conn, "SELECT COUNT(*) FROM t_msg_record_list WHERE sessionId = 1") == [(240,)]
    assert rows(conn, "SELECT received - `read` FROM t_unread_counter WHERE conversation_id = 1 AND user_id = 2") == [
        (50,)
    ]
    degrees = rows(
        conn,
        "SELECT u, COUNT(*) FROM (SELECT user_low_id u FROM t_conversation UNION ALL"
        " SELECT user_high_id FROM t_conversation) x GROUP BY u ORDER BY 2 DESC, 1",
    )
    assert degrees[0][0] <= 3 and degrees[0][1] > 2 * degrees[len(degrees) // 2][1], degrees


def check_search_index(conn) -> None:
    """The gram index holds exactly what the app's indexing makes of every message, for both its users."""
    messages = rows(conn, "SELECT msgId, sender_id, recipient_id, content FROM t_msg_record_list")
    want = {(u, g, m) for m, s, r, text in messages for g in search_index.grams_of(text) for u in (s, r)}
    assert {(int(u), g, int(m)) for u, g, m in rows(conn, "SELECT user_id, gram, msg_id FROM t_search_gram")} == want
    # The text search is measured on: Chinese without spaces, the rare word somewhere.
    assert any("北京" in text for *_, text in messages)


def expected_redis(conn) -> dict:
    """What each user's structures must hold, computed from the rows."""
    users = [u for (u,) in rows(conn, "SELECT id FROM t_user ORDER BY id")]
    want: dict = {
        u: {"convs": {}, "peers": {}, "unread": {}, "offline": defaultdict(set), "peer_read": {}} for u in users
    }
    for cid, low, high, last in rows(conn, "SELECT id, user_low_id, user_high_id, last_msg_id FROM t_conversation"):
        for user, peer in ((low, high), (high, low)):
            want[user]["convs"][str(cid)] = float(last)
            want[user]["peers"][str(cid)] = str(peer)
    counters = rows(
        conn, "SELECT conversation_id, user_id, received, `read`, version, last_read_msg_id FROM t_unread_counter"
    )
    peer_of = {(cid, u): p for u in users for cid, p in want[u]["peers"].items()}
    for cid, user, received, read, version, last_read in counters:
        want[user]["unread"][str(cid)] = f"{received}:{read}:{version}"
        if last_read:
            cursor = conn.cursor()
            cursor.execute(
                "SELECT MAX(msgId) FROM t_msg_record_list WHERE sessionId = %s AND recipient_id = %s"
                " AND isRead AND msgId <= %s",
                [cid, user, last_read],
            )
            newest = cursor.fetchone()
            if newest[0] is not None:
                want[int(peer_of[(str(cid), user)])]["peer_read"][str(cid)] = str(newest[0])
    for recipient, sender, msg_id in rows(
        conn, "SELECT recipient_id, sender_id, msgId FROM t_msg_record_list WHERE offline"
    ):
        want[recipient]["offline"][str(sender)].add(str(msg_id))
    return want


def check_redis(client, prefix: str, want: dict) -> None:
    for user, expected in want.items():
        tag = f"{prefix}:{{u:{user}}}"
        for name in ("convs", "unread", "offline", "peer_read"):
            assert client.exists(f"{tag}:{name}:ready"), (user, name)
        assert dict(client.zrange(f"{tag}:convs", 0, -1, withscores=True)) == expected["convs"], user
        assert client.hgetall(f"{tag}:peers") == expected["peers"], user
        assert client.hgetall(f"{tag}:unread") == expected["unread"], user
        assert client.hgetall(f"{tag}:peer_read") == expected["peer_read"], user
        senders = dict(client.zrange(f"{tag}:offline", 0, -1, withscores=True))
        assert set(senders) == set(expected["offline"]), user
        for sender, ids in expected["offline"].items():
            assert set(client.zrange(f"{tag}:offline:{sender}", 0, -1)) == ids, (user, sender)
            assert senders[sender] == float(min(ids, key=int)), (user, sender)


@pytest.mark.timeout(600)
def test_a_tiny_data_set_is_consistent_resumable_and_rebuilds_redis(scale_env):
    env, conn, db_name, client, prefix = scale_env
    meta = json.loads(run(env, "-m", "scripts.bench.dataset", *SIZE).stdout.strip().splitlines()[-1])
    assert meta["complete"] and meta["landmarks"]["largest_conversation_messages"] == 240
    conn.select_db(db_name)
    check_consistent(conn)
    check_search_index(conn)
    assert meta["search_index_seconds"] >= 0
    loaded = fingerprint(conn)

    # Stopped halfway: the last chunks of messages, the counters and the stream rows never made it.
    cursor = conn.cursor()
    for sql in (
        "DELETE FROM t_msg_record_list WHERE id > 600",
        "DELETE FROM t_unread_counter",
        "DELETE FROM t_msg_stream",
    ):
        cursor.execute(sql)
    conn.commit()
    again = run(env, "-m", "scripts.bench.dataset", *SIZE)
    assert "600 of 1000 already loaded" in again.stderr
    assert fingerprint(conn) == loaded
    check_consistent(conn)

    # rebuild_redis, interrupted after 10 users, then continued: everything matches the rows.
    client.set(f"{prefix}:{{u:1}}:convs", "stale")  # a leftover the drop must remove
    first = run(env, "manage.py", "rebuild_redis", "--batch", "4", "--stop-after", "10")
    assert "stopped early" in first.stdout
    assert client.get(f"{prefix}:rebuild:progress") == "12"
    second = run(env, "manage.py", "rebuild_redis", "--batch", "7")
    assert "Continued an interrupted rebuild after user id 12." in second.stdout
    assert "the structures of 28 user(s)" in second.stdout
    assert not client.exists(f"{prefix}:rebuild:progress")
    want = expected_redis(conn)
    check_redis(client, prefix, want)
    # And from scratch.
    run(env, "manage.py", "rebuild_redis")
    check_redis(client, prefix, want)
