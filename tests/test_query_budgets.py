"""Query budgets of the hot reads and writes: a fixed number of SQL statements, whatever the size.

(The send batch's budget is in test_send_batch.py.)
Each request runs once to warm Redis and the remembered token, then is counted.
"""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from .helpers import flush_redis


def count(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code in (200, 204), response.content
    return len(captured)


def test_history_page_is_two_queries(alice, bob):
    for i in range(60):
        alice.send(bob, f"m{i}")
    cid = alice.get("conversations").json()["results"][0]["conversation_id"]
    alice.get(f"conversations/{cid}/messages")
    assert count(lambda: alice.get(f"conversations/{cid}/messages", {"limit": 5})) == 2
    assert count(lambda: alice.get(f"conversations/{cid}/messages", {"limit": 50})) == 2


def test_sync_is_one_query_whatever_the_page(alice, bob, carol):
    for i in range(30):
        alice.send(bob if i % 2 else carol, f"m{i}")
    alice.get("sync", {"since": 0})
    assert count(lambda: alice.get("sync", {"since": 0, "limit": 3})) == 1
    assert count(lambda: alice.get("sync", {"since": 0, "limit": 500})) == 1


def test_offline_is_constant_in_messages_and_senders(alice, bob, carol, make_user):
    for i in range(5):
        alice.send(bob, f"a{i}")
    bob.get("offline")
    few = count(lambda: bob.get("offline"))
    dave = make_user("dave")
    for i in range(40):
        (carol if i % 2 else dave).send(bob, f"c{i}")
    bob.get("offline")
    many = count(lambda: bob.get("offline"))
    assert few == many <= 2, (few, many)


def test_marking_read_costs_the_same_for_three_or_thirty_messages(alice, bob):
    def unread_then_read(n: int) -> int:
        last = None
        for i in range(n):
            last = alice.send(bob, f"m{i}")
        return count(lambda: bob.post(f"conversations/{last['conversation_id']}/read", {"up_to": last["msg_id"]}))

    bob.get("unread")
    three = unread_then_read(3)
    thirty = unread_then_read(30)
    assert three == thirty <= 12, (three, thirty)


def test_conversation_page_costs_no_query_warm_and_a_constant_cold(alice, make_user, django_assert_max_num_queries):
    peers = [make_user(f"peer{i:02d}", f"Peer {i}") for i in range(22)]
    for peer in peers:
        peer.send(alice, f"hello from {peer.username}")
    first = alice.get("conversations").json()
    assert len(first["results"]) == 20
    assert first["next_before"] is not None

    with django_assert_max_num_queries(0):  # the token too is remembered (profiles/auth.py)
        warm = alice.get("conversations")
    assert warm.json() == first

    counts = {}
    for limit in (5, 20):
        flush_redis()
        with CaptureQueriesContext(connection) as captured:
            cold = alice.get("conversations", {"limit": limit})
        assert cold.status_code == 200
        assert cold.json()["results"] == first["results"][:limit]
        counts[limit] = len(captured)
    assert counts[5] == counts[20], counts
    # PROTOCOL.md 1.2: two more, the requester's blocks (t_block) and conversation
    # settings (t_conversation_setting) rebuilt after the flush.
    assert counts[20] <= 8, counts


def test_search_is_four_queries_whatever_the_user_holds(alice, bob, carol):
    """Counts, the walk, the messages in flight, the page (attachments only when a message has some)."""
    from messaging import fanout
    from messaging.models import MessageRecord

    for i in range(30):
        alice.send(bob, f"lunch {i} at noon")
        carol.send(alice, f"dinner {i} tonight")
    fanout.fan_out_batch(list(MessageRecord.objects.filter(fan_out_done=False).values_list("msg_id", flat=True)))
    bob.send(alice, "lunch in flight")
    alice.get("search", {"q": "lunch"})
    for q in ("lunch", "lunch noon", "北京", "xylophone at"):
        for limit in (1, 20, 100):
            assert count(lambda q=q, limit=limit: alice.get("search", {"q": q, "limit": limit})) <= 4, q
    # One letter: the grams that start with it, their walks in one statement, the messages in flight, the page.
    assert count(lambda: alice.get("search", {"q": "n", "limit": 50})) == 4


def test_offline_reads_redis_in_two_round_trips_whatever_the_senders(alice, bob, carol, make_user, monkeypatch):
    import redis

    from messaging.offline import offline_messages

    dave = make_user("dave")
    for i in range(12):
        (alice, carol, dave)[i % 3].send(bob, f"r{i}")
    offline_messages(bob.id)  # warm: the index is ready, the profiles and blocks are cached
    trips: list[str] = []
    pipeline_execute, command = redis.client.Pipeline.execute, redis.Redis.execute_command
    monkeypatch.setattr(
        redis.client.Pipeline,
        "execute",
        lambda self, *a, **k: trips.append("pipeline") or pipeline_execute(self, *a, **k),
    )
    monkeypatch.setattr(
        redis.Redis, "execute_command", lambda self, *a, **k: trips.append(a[0]) or command(self, *a, **k)
    )
    result = offline_messages(bob.id)
    assert sorted(group["sender"]["user_id"] for group in result["results"]) == sorted([alice.id, carol.id, dave.id])
    assert sum(len(group["messages"]) for group in result["results"]) == 12
    assert trips == ["pipeline", "pipeline"]  # the index and the blocks; the groups and the senders' profiles
