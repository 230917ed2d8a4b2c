"""channels-redis's pub/sub layer, each channel's inbox a ``SlimQueue`` (common/slim_queue.py).

Every socket subscribes one channel of its own, and the layer keeps an
``asyncio.Queue`` for it while the socket lives, nearly always empty: about
1.5 KB of empty deques per socket. And the socket's consumer may wait on
that inbox itself, together with daphne's, instead of through a task that
awaits ``receive`` (messaging/consumers.py). Everything else is
channels-redis's ``RedisPubSubChannelLayer`` (pinned in requirements.txt:
this builds on three of its internals, the per-loop layer, its ``channels``
dict and the method that makes an inbox).

Subscriptions and publishes are batched (``BatchedShard``): channels-redis
sends each ``SUBSCRIBE``, ``UNSUBSCRIBE`` and ``PUBLISH`` under one lock of
the shard, a publish waiting for its reply, so the operations of a process
run one at a time, each one turn of the event loop or more (the lock wakes
its next waiter in the next turn). A socket opening takes two subscriptions
(its channel, its user's group) and a publish (its watchers hear "online"),
closing as many again. Under a reconnect storm a turn of a daphne's loop is
long (hundreds of handshakes), and the sockets opening queued on that lock
until daphne killed them: in the bench's restart of 10,000 sockets, 2,008
to 7,736 consumers were killed and the clients took 140-165 s to come back
(docs/benchmarks.md, "The reconnect storm's queue"). Now what is asked while
a batch is being sent goes in the next one, in the order asked: one command
per run of (un)subscriptions, one pipeline per run of publishes.
"""

import asyncio
import logging

from channels_redis import pubsub  # type: ignore[import-untyped]  # no stubs, no py.typed

from .slim_queue import SlimQueue

logger = logging.getLogger(__name__)

# What a request of a batch carries: the channel, and the message of a publish.
Item = tuple[str, bytes | None]


class BatchedShard(pubsub.RedisSingleShardConnection):
    """One Redis host's pub/sub connection, its (un)subscriptions sent in batches (the module's docstring).

    An (un)subscription still returns once its command was written (as the
    original's did; Redis's confirmation comes on the reading task), a
    publish once Redis answered it; a failure reaches every caller of its run.
    """

    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        # (command, (channel, message or None), the caller's future), in the order they were asked for.
        self._asked: list[tuple[str, Item, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        await self._ask("publish", channel, message)

    async def subscribe(self, channel: str) -> None:
        await self._ask("subscribe", channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._ask("unsubscribe", channel)

    async def _ask(self, command: str, channel: str, message: bytes | None = None) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._asked.append((command, (channel, message), done))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_batches())
        await done

    async def _send_batches(self) -> None:
        asked: list[tuple[str, Item, asyncio.Future]] = []
        try:
            while self._asked:
                asked, self._asked = self._asked, []
                async with self._lock:  # the original's flush() takes it too
                    for command, run in _runs(asked):
                        try:
                            await self._send_run(command, [item for item, _ in run])
                        except Exception as exc:
                            for _, done in run:
                                if not done.done():
                                    done.set_exception(exc)
                            continue
                        for _, done in run:
                            if not done.done():
                                done.set_result(None)
        finally:
            # Cancelled (the loop ends): nobody waits for ever on a batch that will not be sent.
            for _, _, done in (*asked, *self._asked):
                if not done.done():
                    done.cancel()

    async def _send_run(self, command: str, items: list[Item]) -> None:
        self._ensure_redis()
        if command == "publish":
            pipe = self._redis.pipeline(transaction=False)
            for channel, message in items:
                pipe.publish(channel, message)
            await pipe.execute()
            return
        channels = [channel for channel, _ in items]
        if command == "subscribe":
            wanted = [c for c in dict.fromkeys(channels) if c not in self._subscribed_to]
        else:
            wanted = [c for c in dict.fromkeys(channels) if c in self._subscribed_to]
        if not wanted:  # never an empty UNSUBSCRIBE: that is "all channels"
            return
        self._ensure_receiver()
        if command == "subscribe":
            await self._pubsub.subscribe(*wanted)
            self._subscribed_to.update(wanted)
        else:
            await self._pubsub.unsubscribe(*wanted)
            self._subscribed_to.difference_update(wanted)


def _runs(asked: list[tuple[str, Item, asyncio.Future]]) -> list[tuple[str, list[tuple[Item, asyncio.Future]]]]:
    """Consecutive requests of the same command, together, in order."""
    runs: list[tuple[str, list[tuple[Item, asyncio.Future]]]] = []
    for command, item, done in asked:
        if not runs or runs[-1][0] != command:
            runs.append((command, []))
        runs[-1][1].append((item, done))
    return runs


class _SlimLoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards: list[pubsub.RedisSingleShardConnection] = [
            BatchedShard(shard.host, self) for shard in self._shards
        ]

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = SlimQueue()
        await self._get_shard(channel).subscribe(channel)


class SlimPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """``CHAT_CHANNEL_LAYER_BACKEND=pubsub`` (the default): one loop layer per event loop, as the original.

    Besides ``receive``, a reader may wait on a channel's inbox itself
    (``inbox``, then ``deserialize`` each item) and must then ``forget_channel``
    when done, which is what ``receive`` does when its reader is cancelled.
    """

    def inbox(self, channel: str) -> SlimQueue | None:
        """The inbox of a channel ``new_channel`` made in this process; None if there is none."""
        return self._get_layer().channels.get(channel)

    async def forget_channel(self, channel: str) -> None:
        """Drop the channel's inbox and unsubscribe it."""
        layer = self._get_layer()
        if layer.channels.pop(channel, None) is None:
            return
        try:
            await layer._get_shard(channel).unsubscribe(channel)
        except Exception:
            # Redis gone: its subscriptions went with the connection.
            logger.warning("could not unsubscribe channel %s", channel, exc_info=True)

    def _get_layer(self) -> pubsub.RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _SlimLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            pubsub._wrap_close(self, loop)  # the original's clean-up when the loop closes
        return layer
