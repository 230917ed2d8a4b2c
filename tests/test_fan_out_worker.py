"""The fan-out pipeline: on a real Celery worker, through the retry queue, the sweeper, and run twice."""

import redis
from django.conf import settings

from chat_project.common import push
from chat_project.common.redis_client import get_redis
from conversations import store as conversation_store
from messaging import fanout
from messaging import store as messaging_store
from messaging.models import MessageRecord
from messaging.tasks import sweep_unfinished_fan_out
from unread import store as unread_store

from .conftest import wait_for
from .helpers import all_conversations, assert_unread_matches_database, flush_redis, snapshot


def data_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.CHAT_REDIS_URL, decode_responses=True)


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


def test_push_markers_outlive_the_fan_out_by_a_minute_not_a_day(alice, bob):
    """The markers grow with the fan-out in flight, not with traffic (docs/scaling.md)."""
    sent = [alice.send(bob, f"m{n}")["msg_id"] for n in range(3)]
    MessageRecord.objects.filter(msg_id__in=sent).update(fan_out_done=False)
    fanout.fan_out_batch(sent)
    lifetimes = [get_redis().ttl(messaging_store.pushed_key(msg_id)) for msg_id in sent]
    assert all(0 < ttl <= messaging_store.PUSH_MARKER_DONE_SECONDS for ttl in lifetimes), lifetimes


def test_the_redis_broker_channel_builds_one_client_for_all_its_commands(celery_worker, alice, bob, monkeypatch):
    """chat_project/common/kombu_redis.py: not a new redis.Redis per publish, ack and unacked record."""
    from chat_project.celery import app

    built = [0]
    real_init = redis.Redis.__init__

    def counted_init(self, *args, **kwargs):
        built[0] += 1
        real_init(self, *args, **kwargs)

    def send_and_publish(n: int, producer) -> None:
        sent = [alice.send(bob, f"publish {i}") for i in range(n)]  # each a task: published, received, acked
        for i in range(n):
            producer.publish({"n": i}, routing_key="kombu-redis-test", declare=[])
        for message in sent:
            wait_for(lambda message=message: MessageRecord.objects.get(msg_id=message["msg_id"]).fan_out_done)

    with app.connection_for_write() as conn, conn.Producer() as producer:
        assert type(conn.default_channel).__module__ == "chat_project.common.kombu_redis"
        send_and_publish(1, producer)  # every channel exists
        monkeypatch.setattr(redis.Redis, "__init__", counted_init)
        send_and_publish(10, producer)
        # The published list, on the broker's Redis and under its prefix (the channel adds it).
        conn.default_channel.client.delete("kombu-redis-test")
    assert built[0] == 0
