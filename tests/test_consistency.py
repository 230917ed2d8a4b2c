"""Consistency of what users see with what the database holds.

Unread counts against a recount of the message rows, Redis rebuilt after a
flush, the SQL budget of the conversation list, the Celery fan-out pipeline
on a real worker, the sensitive-content filter, gap-free sync cursors and
unique message ids across processes.
"""

import io
import itertools
import multiprocessing
import random
import threading

import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from chat_project.common import push
from conversations import store as conversation_store
from conversations.models import Conversation
from messaging import fanout
from messaging import store as messaging_store
from messaging.content_filter import forget_cached_words
from messaging.models import MessageRecord, SensitiveWord
from messaging.tasks import sweep_unfinished_fan_out
from unread import store as unread_store

from .conftest import ApiUser, clear_redis, wait_for
from .id_worker import generate_ids

# --- helpers -------------------------------------------------------------------


def flush_redis() -> None:
    """Redis restarts empty: the data keys only (the broker keeps its queues)."""
    clear_redis([settings.CHAT_REDIS_URL])


def data_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.CHAT_REDIS_URL, decode_responses=True)


def conversation_ids_of(user: ApiUser) -> list[int]:
    return list(
        Conversation.objects.filter(Q(user_low_id=user.id) | Q(user_high_id=user.id), last_msg_id__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def recount(user: ApiUser, conversation_id: int) -> int:
    """The truth: the user's received messages in the conversation that are not read."""
    return MessageRecord.objects.filter(recipient_id=user.id, session_id=conversation_id, is_read=False).count()


def all_conversations(user: ApiUser) -> list[dict]:
    response = user.get("conversations", {"limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next_before"] is None
    return body["results"]


def assert_unread_matches_database(*users: ApiUser) -> None:
    for user in users:
        truth = {cid: recount(user, cid) for cid in conversation_ids_of(user)}
        nonzero = {str(cid): n for cid, n in truth.items() if n}
        summary = user.get("unread").json()
        assert summary == {"total": sum(nonzero.values()), "conversations": nonzero}, (user.username, truth)
        listed = {c["conversation_id"]: c["unread"] for c in all_conversations(user)}
        assert listed == truth, (user.username, truth)
        for cid, n in truth.items():
            assert n >= 0
            assert user.get(f"conversations/{cid}").json()["unread"] == n


def read(user: ApiUser, conversation_id: int, up_to: int | None = None) -> int:
    body = {} if up_to is None else {"up_to": up_to}
    response = user.post(f"conversations/{conversation_id}/read", body)
    assert response.status_code == 200, response.content
    assert response.json()["conversation_id"] == conversation_id
    return response.json()["unread"]


def recall(user: ApiUser, message: dict) -> None:
    response = user.delete(f"messages/{message['msg_id']}")
    assert response.status_code == 204, response.content


def snapshot(users: list[ApiUser]) -> dict:
    """What each user sees: conversation pages (walked with next_before), unread and offline."""
    seen = {}
    for user in users:
        full = user.get("conversations").json()
        pages, before = [], None
        while True:
            params = {"limit": 2} if before is None else {"limit": 2, "before": before}
            page = user.get("conversations", params).json()
            pages.append(page)
            before = page["next_before"]
            if before is None:
                break
        seen[user.username] = {
            "conversations": full,
            "pages": pages,
            "unread": user.get("unread").json(),
            "offline": user.get("offline").json(),
        }
    return seen


# --- 1. unread arithmetic against a recount ----------------------------------------


def test_unread_matches_a_database_recount_after_every_operation(alice, bob, carol):
    everyone = (alice, bob, carol)
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "two")
    a3 = alice.send(bob, "three")
    ab = a1["conversation_id"]
    assert_unread_matches_database(*everyone)
    # A user's own messages never count for them.
    assert alice.get("unread").json() == {"total": 0, "conversations": {}}
    assert bob.get("unread").json()["conversations"] == {str(ab): 3}

    b1 = bob.send(alice, "back")
    bob.send(alice, "again")
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json()["total"] == 3
    assert alice.get("unread").json()["total"] == 2

    # Read with up_to: everything received up to a2.
    assert read(bob, ab, a2["msg_id"]) == recount(bob, ab) == 1
    assert_unread_matches_database(*everyone)
    # An older up_to than what is already read changes nothing.
    assert read(bob, ab, a1["msg_id"]) == 1
    # up_to naming the reader's own message marks what was received before it.
    assert read(alice, ab, a3["msg_id"]) == recount(alice, ab) == 2
    assert_unread_matches_database(*everyone)

    # Recall of an unread message: it stops counting.
    recall(alice, a3)
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json() == {"total": 0, "conversations": {}}
    # Recall of a read message: nothing moves, and never below zero.
    recall(alice, a1)
    recall(alice, a1)  # recalling again is 204 and changes nothing
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json()["total"] == 0

    # A third user in both directions, then read everything.
    c1 = carol.send(alice, "hi alice")
    carol.send(bob, "hi bob")
    carol.send(bob, "still there?")
    bob.send(carol, "yes")
    alice.send(carol, "hey")
    assert_unread_matches_database(*everyone)
    assert read(alice, ab) == 0
    assert read(alice, c1["conversation_id"], c1["msg_id"]) == 0
    assert_unread_matches_database(*everyone)
    bc = next(cid for cid in conversation_ids_of(bob) if cid != ab)
    assert read(bob, bc) == 0
    # Reading an already read conversation again stays at zero.
    assert read(bob, bc) == 0
    assert read(bob, ab, 0) == 0
    assert_unread_matches_database(*everyone)

    # After everything, a recall by the other side of a message already read.
    recall(bob, b1)
    a4 = alice.send(bob, "new")
    recall(alice, a4)
    alice.send(bob, "newer")
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json() == {"total": 1, "conversations": {str(ab): 1}}


def test_unread_stays_exact_with_concurrent_sends_reads_and_recalls(alice, bob):
    """Both directions at once, with reads and recalls racing them."""
    ab = alice.send(bob, "start")["conversation_id"]
    bob.send(alice, "start too")
    errors: list[BaseException] = []
    recallable: list[dict] = []

    def run(action):
        try:
            action()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def alice_sends():
        for i in range(20):
            message = alice.send(bob, f"a{i}")
            if i % 4 == 0:
                recallable.append(message)

    def bob_sends():
        for i in range(20):
            bob.send(alice, f"b{i}")

    def bob_reads():
        for _ in range(12):
            read(bob, ab)

    def alice_reads_and_recalls():
        for _ in range(12):
            read(alice, ab)
            if recallable:
                recall(alice, recallable.pop())

    threads = [
        threading.Thread(target=run, args=(f,)) for f in (alice_sends, bob_sends, bob_reads, alice_reads_and_recalls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for message in recallable:
        recall(alice, message)
    assert_unread_matches_database(alice, bob)
    assert MessageRecord.objects.filter(session_id=ab).count() == 42


# --- 2. Redis flush and rebuild ----------------------------------------------------


def build_realistic_state(alice, bob, carol) -> None:
    a1 = alice.send(bob, "hello bob 👋")
    a2 = alice.send(bob, "are you there?")
    alice.send(bob, "ping")
    b1 = bob.send(alice, "yes!")
    c1 = carol.send(alice, "hi alice")
    carol.send(alice, "lunch?")
    carol.send(bob, "hi bob")
    bc1 = bob.send(carol, "hey carol")
    alice.send(carol, "sure")
    c_last = carol.send(alice, "see you")
    # Reads: bob up to a2, alice all of carol's.
    read(bob, a1["conversation_id"], a2["msg_id"])
    read(alice, c1["conversation_id"])
    # Recalls: one unread (the last of a conversation), one read.
    recall(carol, c_last)
    recall(alice, a1)
    recall(bob, bc1)
    # Offline acks (nobody has a socket, so everything arrived offline).
    response = bob.post("offline/ack", {"sender_id": alice.id, "up_to": a2["msg_id"]})
    assert response.status_code == 204
    response = alice.post("offline/ack", {"sender_id": bob.id, "up_to": b1["msg_id"]})
    assert response.status_code == 204


def test_everything_users_see_survives_a_redis_flush_and_a_rebuild(alice, bob, carol):
    users = [alice, bob, carol]
    build_realistic_state(alice, bob, carol)
    assert_unread_matches_database(*users)
    before = snapshot(users)
    # Sanity: the state is not trivial.
    assert len(before["alice"]["conversations"]["results"]) == 2
    assert before["bob"]["unread"]["total"] > 0
    assert before["bob"]["offline"]["results"]
    assert any(
        c["last_message"]["status"] == "recalled" for u in before.values() for c in u["conversations"]["results"]
    )

    flush_redis()
    assert snapshot(users) == before  # lazy rebuild on the missing ready markers

    call_command("rebuild_redis", stdout=io.StringIO())
    assert snapshot(users) == before

    flush_redis()
    call_command("rebuild_redis", stdout=io.StringIO())
    assert snapshot(users) == before
    assert_unread_matches_database(*users)


def test_traffic_after_a_redis_flush_is_counted_on_top_of_the_rebuilt_state(alice, bob, carol):
    users = [alice, bob, carol]
    build_realistic_state(alice, bob, carol)
    flush_redis()
    # Writes arrive before any read has rebuilt anything.
    new = alice.send(bob, "after the restart")
    carol.send(bob, "me too")
    read(alice, new["conversation_id"])
    recall(alice, new)
    alice.send(bob, "last one")
    assert_unread_matches_database(*users)
    after = snapshot(users)
    flush_redis()
    assert snapshot(users) == after
    offline_ids = {m["msg_id"] for group in after["bob"]["offline"]["results"] for m in group["messages"]}
    assert offline_ids == set(
        MessageRecord.objects.filter(recipient_id=bob.id, offline=True).values_list("msg_id", flat=True)
    )


# --- 3. query counts -----------------------------------------------------------------


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
    assert counts[20] <= 6, counts


# --- 4. the fan-out pipeline on a real worker -------------------------------------------


def test_fan_out_finishes_on_the_worker(celery_worker, alice, bob):
    sent = alice.send(bob, "through the worker")
    wait_for(lambda: MessageRecord.objects.get(msg_id=sent["msg_id"]).fan_out_done)
    assert bob.get("unread").json() == {"total": 1, "conversations": {str(sent["conversation_id"]): 1}}
    assert bob.get("conversations").json()["results"][0]["last_message"] == sent


def test_same_client_msg_id_twice_is_one_message(celery_worker, alice, bob):
    first = alice.post("messages", {"to": bob.id, "content": "once", "client_msg_id": "cmid-1"})
    again = alice.post("messages", {"to": bob.id, "content": "once", "client_msg_id": "cmid-1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    msg_id = first.json()["msg_id"]
    wait_for(lambda: MessageRecord.objects.get(msg_id=msg_id).fan_out_done)
    assert MessageRecord.objects.filter(sender_id=alice.id).count() == 1
    assert bob.get("unread").json()["total"] == 1
    assert all_conversations(bob)[0]["unread"] == 1
    assert_unread_matches_database(alice, bob)


def test_failed_fan_out_goes_through_the_retry_queue_and_finishes(celery_worker, alice, bob, monkeypatch):
    from celery import current_task

    real_push = push._send_now
    calls: list[tuple[int, str | None]] = []

    def failing_once(*args):
        info = current_task.request.delivery_info or {}
        calls.append((current_task.request.retries, info.get("routing_key")))
        if len(calls) == 1:
            raise ConnectionError("channel layer down")
        real_push(*args)

    monkeypatch.setattr(push, "_send_now", failing_once)
    sent = alice.send(bob, "retry me")
    wait_for(lambda: MessageRecord.objects.get(msg_id=sent["msg_id"]).fan_out_done)
    assert calls == [(0, "realtime"), (1, "retry")]
    assert bob.get("unread").json()["total"] == 1
    assert_unread_matches_database(alice, bob)


def test_sweeper_redrives_a_fan_out_that_never_ran(celery_worker, alice, bob, settings):
    sent = alice.send(bob, "lost in a crash")
    msg_id, cid = sent["msg_id"], sent["conversation_id"]
    wait_for(lambda: MessageRecord.objects.get(msg_id=msg_id).fan_out_done)
    # The worker died between accept and fan-out, and Redis lost the projection.
    MessageRecord.objects.filter(msg_id=msg_id).update(fan_out_done=False)
    flush_redis()
    settings.CHAT_FAN_OUT_STALE_SECONDS = 0

    sweep_unfinished_fan_out.delay()
    wait_for(lambda: MessageRecord.objects.get(msg_id=msg_id).fan_out_done)

    client = data_redis()
    try:
        for user in (alice, bob):
            assert client.zscore(conversation_store.convs_key(user.id), cid) == msg_id
        assert unread_store.parse_counts(client.hgetall(unread_store.unread_key(bob.id))) == {cid: 1}
        assert client.zrange(messaging_store.sender_key(bob.id, alice.id), 0, -1) == [str(msg_id)]
        recent = client.zrevrange(conversation_store.recent_key(cid), 0, 0)
        assert conversation_store.decode_last(recent) == sent
    finally:
        client.close()
    assert bob.get("unread").json() == {"total": 1, "conversations": {str(cid): 1}}
    assert bob.get("offline").json()["results"][0]["messages"] == [sent]
    assert_unread_matches_database(alice, bob)


def test_running_fan_out_twice_changes_nothing(alice, bob, pushed_frames):
    pushed = pushed_frames
    first = alice.send(bob, "one")
    second = alice.send(bob, "two")
    before = snapshot([alice, bob])

    for message in (first, second):
        fanout.fan_out_batch([message["msg_id"]])
        # At-least-once: the task runs again (say its worker died before acking).
        MessageRecord.objects.filter(msg_id=message["msg_id"]).update(fan_out_done=False)
        fanout.fan_out_batch([message["msg_id"]])
        assert MessageRecord.objects.get(msg_id=message["msg_id"]).fan_out_done

    assert snapshot([alice, bob]) == before
    assert bob.get("unread").json()["total"] == 2
    message_frames = [frame["message"]["msg_id"] for _, frame in pushed if frame["type"] == "message"]
    # Each message went once to the recipient and once to the sender, not twice each.
    assert sorted(message_frames) == sorted([first["msg_id"]] * 2 + [second["msg_id"]] * 2)
    assert_unread_matches_database(alice, bob)


# --- 5. sensitive-content filter -------------------------------------------------------


def add_words(words: dict[str, str]) -> None:
    for word, action in words.items():
        SensitiveWord.objects.create(word=word, action=action)
    forget_cached_words()


def test_mask_words_are_starred_case_insensitively_and_overlapping(alice, bob):
    mask = SensitiveWord.Action.MASK
    add_words({"darn": mask, "abcd": mask, "cdef": mask, "he": mask, "she": mask, "hers": mask})
    cases = {
        "Darn it, DARN!": "**** it, ****!",
        "xdarnedx": "x****edx",
        "xABCdefx": "x******x",
        "ushers": "u*****",
        "nothing to see": "nothing to see",
        "Ah, she said 🙂": "Ah, *** said 🙂",
    }
    for text, expected in cases.items():
        sent = alice.send(bob, text)
        assert sent["content"] == expected, text
    history = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in history] == list(cases.values())


def test_reject_word_answers_validation_error_and_stores_nothing(alice, bob):
    add_words({"forbidden": SensitiveWord.Action.REJECT, "darn": SensitiveWord.Action.MASK})
    response = alice.post("messages", {"to": bob.id, "content": "darn, this is ForBiddenStuff", "client_msg_id": "r1"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert "content" in body["errors"]
    assert MessageRecord.objects.count() == 0
    assert bob.get("unread").json() == {"total": 0, "conversations": {}}
    assert bob.get("conversations").json()["results"] == []
    assert alice.get("sync", {"since": 0}).json()["results"] == []
    # Nothing was stored under that client_msg_id: a clean retry is a new message.
    retry = alice.post("messages", {"to": bob.id, "content": "darn, sorry", "client_msg_id": "r1"})
    assert retry.status_code == 201
    assert retry.json()["content"] == "****, sorry"


def reference_mask(text: str, words: list[str]) -> str:
    lowered = text.lower()
    chars = list(text)
    for word in words:
        start = lowered.find(word)
        while start != -1:
            chars[start : start + len(word)] = "*" * len(word)
            start = lowered.find(word, start + 1)
    return "".join(chars)


def test_filter_with_five_thousand_words_still_masks_correctly(alice, bob):
    rng = random.Random(20260101)
    words: set[str] = set()
    while len(words) < 5000:
        words.add("".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(4, 9))))
    word_list = sorted(words)
    SensitiveWord.objects.bulk_create([SensitiveWord(word=w) for w in word_list])
    forget_cached_words()
    for _ in range(15):
        picked = rng.sample(word_list, 3)
        filler = ["qrstu", "vwxyz", "  ", "🙂", "QRS"]
        parts = [rng.choice(filler) for _ in range(4)]
        text = f"{parts[0]}{picked[0].upper()}{parts[1]}{picked[1]}{parts[2]}{picked[2].title()}{parts[3]}"
        text += " " + "".join(rng.choice("abcdefghijklmnopxyz ") for _ in range(80))
        sent = alice.send(bob, text)
        assert sent["content"] == reference_mask(text, word_list)
        for word in picked:
            assert word not in sent["content"].lower()
    untouched = alice.send(bob, "qrstu vwxyz QRS 🙂")
    assert untouched["content"] == "qrstu vwxyz QRS 🙂"


# --- 6. sync ---------------------------------------------------------------------------


def test_sync_in_small_pages_returns_every_message_once_in_order(alice, bob, carol):
    mine = [
        alice.send(bob, "a→b 1"),
        bob.send(alice, "b→a 1"),
        carol.send(alice, "c→a 1"),
        alice.send(carol, "a→c 1"),
    ]
    bob.send(carol, "not alice's")
    mine += [alice.send(bob, "a→b 2"), bob.send(alice, "b→a 2"), carol.send(alice, "c→a 2")]
    recall(alice, mine[0])
    expected = sorted(m["msg_id"] for m in mine)

    received: dict[int, dict] = {}
    since, calls = 0, 0
    while True:
        calls += 1
        assert calls < 100, "sync never finished"
        response = alice.get("sync", {"since": since, "limit": 2})
        assert response.status_code == 200, response.content
        page = response.json()
        ids = [m["msg_id"] for m in page["results"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert len(ids) <= 2
        assert all(i > since for i in ids)
        assert not set(ids) & set(received), "a message came twice"
        assert page["next_since"] == (ids[-1] if ids else since)
        for message in page["results"]:
            received[message["msg_id"]] = message
        since = page["next_since"]
        if not page["has_more"]:
            break
    assert sorted(received) == expected
    assert received[mine[0]["msg_id"]]["status"] == "recalled"
    assert received[mine[0]["msg_id"]]["content"] == ""
    tail = alice.get("sync", {"since": since}).json()
    assert tail == {"results": [], "has_more": False, "next_since": since}


# --- 7. message ids across processes ----------------------------------------------------


def test_four_processes_hand_out_unique_increasing_53_bit_ids(db):
    count = 20_000
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    processes = [context.Process(target=generate_ids, args=(count, barrier, results)) for _ in range(4)]
    for process in processes:
        process.start()
    try:
        outputs = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
    assert all(process.exitcode == 0 for process in processes)
    assert len({pid for pid, _ in outputs}) == 4
    every_id = []
    for _, ids in outputs:
        assert len(ids) == count
        assert all(a < b for a, b in itertools.pairwise(ids))
        assert all(0 < i < 2**53 for i in ids)
        every_id += ids
    assert len(set(every_id)) == 4 * count
