"""The index each hot read uses, pinned with EXPLAIN on the statements the app sends.

Issue 19's data set (3 million messages, docs/benchmarks.md "A data set a
year old") showed every one of these reading only the rows it returns,
through the index named here. A change to a query or an index that makes
MariaDB pick another plan fails here on a small set, before it shows at scale.
"""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def statements(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code in (200, 204), response.content
    return [q["sql"] for q in captured.captured_queries]


def plan(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def keys_on_messages(sql: str) -> list[str]:
    """The index of each access to the message table; each must be a lookup (ref or range), never a scan."""
    rows = [row for row in plan(sql) if row["table"] in ("t_msg_record_list", "U0")]
    assert all(row["type"] in ("ref", "range") for row in rows), rows
    return [row["key"] for row in rows]


def one(sqls: list[str], needle: str) -> str:
    found = [s for s in sqls if needle in s]
    assert len(found) == 1, sqls
    return found[0]


def test_history_sync_and_mark_read_read_through_their_indexes(alice, bob, carol):
    for i in range(40):
        (alice.send(bob, f"a{i}") if i % 3 else bob.send(alice, f"b{i}"))
        carol.send(alice, f"c{i}")
    cid = alice.get("conversations").json()["results"][-1]["conversation_id"]
    last = alice.send(bob, "last")
    alice.get(f"conversations/{cid}/messages")

    history = one(statements(lambda: alice.get(f"conversations/{cid}/messages", {"limit": 10})), "`sessionId` =")
    assert keys_on_messages(history) == ["msg_session_msgid"]
    deep = one(
        statements(lambda: alice.get(f"conversations/{cid}/messages", {"limit": 10, "before": last["msg_id"]})),
        "`sessionId` =",
    )
    assert keys_on_messages(deep) == ["msg_session_msgid"]

    alice.get("sync", {"since": 0})
    sync = one(statements(lambda: alice.get("sync", {"since": 1, "limit": 5})), "UNION ALL")
    assert sorted(keys_on_messages(sync)) == ["msg_recipient_rev", "msg_sender_rev"]
    # The scans read the indexes alone; only the page's rows are read, by primary key.
    rows = plan(sync)
    assert all("Using index" in row["Extra"] for row in rows if row["table"] == "t_msg_record_list"), rows
    assert [(row["type"], row["key"]) for row in rows if row["table"] == "m"] == [("eq_ref", "PRIMARY")], rows

    sqls = statements(lambda: bob.post(f"conversations/{cid}/read", {"up_to": last["msg_id"]}))
    # (The UPDATE that flips the rows uses msg_unread at scale; on a table this small MariaDB
    # rightly prefers to walk the primary key, so it is not pinned here.)
    newest_read = one(sqls, "`isRead` = 1 AND")
    assert keys_on_messages(newest_read) == ["msg_unread"]


def test_search_walks_one_users_postings_and_reads_messages_by_id(alice, bob, carol):
    from messaging import fanout
    from messaging.models import MessageRecord

    for i in range(30):
        alice.send(bob, f"lunch {i} at noon")
        carol.send(alice, f"dinner {i}")
    fanout.fan_out_batch(list(MessageRecord.objects.filter(fan_out_done=False).values_list("msg_id", flat=True)))
    alice.send(bob, "lunch in flight")
    sqls = statements(lambda: alice.get("search", {"q": "lunch noon"}))
    walk = one(sqls, "STRAIGHT_JOIN")
    rows = plan(walk)
    # The driver gram's postings of this user, in key order (no sort); the other grams and
    # the message row by unique key, one row each.
    assert [(r["table"], r["type"], r["key"]) for r in rows] == [
        ("d", "ref", "PRIMARY"),
        ("p0", "eq_ref", "PRIMARY"),
        ("p1", "eq_ref", "PRIMARY"),
        ("p2", "eq_ref", "PRIMARY"),
        ("m", "eq_ref", "msgId"),
    ]
    assert "filesort" not in (rows[0]["Extra"] or "")
    in_flight = plan(one(sqls, "m.fan_out_done = 0"))
    assert [(r["type"], r["key"]) for r in in_flight] == [("ref", "msg_fan_out_pending")]
    assert "filesort" not in (in_flight[0]["Extra"] or "")
    # One letter: the grams that start with it, a range of the key. (At scale MariaDB reads it
    # with one dive per gram, "Using index for group-by"; on a table this small it may rightly
    # read the few rows instead, so that is not pinned here.)
    followers = one(statements(lambda: alice.get("search", {"q": "n"})), "GROUP BY user_id, gram")
    assert [(r["type"], r["key"]) for r in plan(followers)] == [("range", "PRIMARY")]
