"""The pub/sub layer sends its (un)subscriptions and publishes in batches (chat_project/common/pubsub_layer.py).

channels-redis sent one command per subscription or publish under a lock, one
per turn of the event loop: a process opening hundreds of sockets at once (a
reconnect storm) opened them one per turn. These run the layer on the real Redis of the
test run, on an event loop of their own.
"""

import asyncio
import uuid

import pytest
import redis
from django.conf import settings

from chat_project.common.pubsub_layer import BatchedShard, SlimPubSubChannelLayer

pytestmark = pytest.mark.e2e


def new_layer(**host) -> SlimPubSubChannelLayer:
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = [{**config["hosts"][0], **host}] if host else config["hosts"]
    return SlimPubSubChannelLayer(hosts=hosts, prefix=f"test-batches-{uuid.uuid4().hex[:8]}")


class CountingShard:
    """Counts the commands (or pipelines of publishes) a shard sends, and the requests in each."""

    def __init__(self, shard: BatchedShard) -> None:
        self.sent: list[tuple[str, int]] = []
        send = shard._send_run

        async def counted(command: str, items: list) -> None:
            self.sent.append((command, len(items)))
            await send(command, items)

        shard._send_run = counted  # type: ignore[method-assign]

    def count(self, command: str) -> tuple[int, int]:
        """(how many sends, how many requests in them) of ``command``."""
        runs = [n for c, n in self.sent if c == command]
        return len(runs), sum(runs)


def numsub(*channels: str) -> dict[str, int]:
    client = redis.Redis.from_url(settings.CHAT_CHANNEL_LAYER_URL)
    try:
        return {name.decode(): count for name, count in client.pubsub_numsub(*channels)}
    finally:
        client.close()


def test_sockets_opening_at_once_subscribe_in_a_few_commands_and_each_gets_its_messages():
    async def scenario():
        layer = new_layer()
        inner = layer._get_layer()
        counting = CountingShard(inner._shards[0])
        channels = await asyncio.gather(*(layer.new_channel() for _ in range(300)))
        await asyncio.gather(*(layer.group_add(f"user.{i}", c) for i, c in enumerate(channels)))
        assert len(set(channels)) == 300
        # Every channel and every group is subscribed in Redis.
        subscribed = numsub(*channels, *(inner._get_group_channel_name(f"user.{i}") for i in range(300)))
        assert set(subscribed.values()) == {1}
        # Far fewer commands than subscriptions (one per command before).
        commands, requests = counting.count("subscribe")
        assert requests == 600 and commands <= 20, counting.sent
        # And the messages reach their channel, through the group too.
        await layer.send(channels[7], {"type": "chat.test", "n": 7})
        await layer.group_send("user.42", {"type": "chat.test", "n": 42})
        got = [await asyncio.wait_for(layer.receive(channels[i]), 5) for i in (7, 42)]
        assert [m["n"] for m in got] == [7, 42]
        for channel in channels:
            await layer.forget_channel(channel)
        assert set(numsub(*channels).values()) == {0}
        await layer.flush()

    asyncio.run(scenario())


def test_a_subscription_and_its_unsubscription_asked_together_apply_in_the_order_asked():
    async def scenario():
        layer = new_layer()
        shard = layer._get_layer()._shards[0]
        kept, dropped = f"{uuid.uuid4().hex}.kept", f"{uuid.uuid4().hex}.dropped"
        await shard.subscribe("warm-up")  # the connection exists: the next ones are batched together
        await asyncio.gather(
            shard.subscribe(kept),
            shard.subscribe(dropped),
            shard.unsubscribe(kept),
            shard.unsubscribe(dropped),
            shard.subscribe(kept),
        )
        assert numsub(kept, dropped) == {kept: 1, dropped: 0}
        assert kept in shard._subscribed_to and dropped not in shard._subscribed_to
        await layer.flush()

    asyncio.run(scenario())


def test_a_caller_that_gives_up_does_not_stop_the_others_of_its_batch():
    async def scenario():
        layer = new_layer()
        shard = layer._get_layer()._shards[0]
        await shard.subscribe("warm-up")
        names = [f"{uuid.uuid4().hex}.{i}" for i in range(5)]
        tasks = [asyncio.ensure_future(shard.subscribe(name)) for name in names]
        await asyncio.sleep(0)  # each has asked, and waits for its batch
        tasks[2].cancel()  # a socket killed while it opened
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[2], asyncio.CancelledError)
        assert [r for i, r in enumerate(results) if i != 2] == [None] * 4
        # Its subscription was sent with the batch; its own clean-up (forget_channel) unsubscribes it.
        assert set(numsub(*names).values()) == {1}
        await layer.flush()

    asyncio.run(scenario())


def test_every_caller_of_a_batch_hears_that_redis_is_unreachable_and_a_later_batch_works():
    async def scenario():
        dead = new_layer(address="redis://127.0.0.1:9", socket_connect_timeout=1)
        results = await asyncio.gather(*(dead.new_channel() for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, redis.ConnectionError) for r in results), results
        await dead.flush()
        alive = new_layer()
        channel = await alive.new_channel()
        assert numsub(channel) == {channel: 1}
        await alive.flush()

    asyncio.run(scenario())


def test_publishes_asked_together_go_in_one_pipeline_and_arrive_in_the_order_asked():
    async def scenario():
        layer = new_layer()
        shard = layer._get_layer()._shards[0]
        channel = await layer.new_channel()
        counting = CountingShard(shard)
        await asyncio.gather(*(layer.send(channel, {"type": "chat.test", "n": n}) for n in range(100)))
        pipelines, publishes = counting.count("publish")
        assert publishes == 100 and pipelines <= 3, counting.sent
        got = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(100)]
        assert got == list(range(100))
        await layer.flush()

    asyncio.run(scenario())


def test_a_publish_to_an_unreachable_redis_fails_for_its_caller():
    async def scenario():
        dead = new_layer(address="redis://127.0.0.1:9", socket_connect_timeout=1)
        with pytest.raises(redis.ConnectionError):
            await dead.send("nobody", {"type": "chat.test"})
        await dead.flush()

    asyncio.run(scenario())
