"""channels-redis's pub/sub layer, each channel's inbox a ``SlimQueue`` (common/slim_queue.py).

Every socket subscribes one channel of its own, and the layer keeps an
``asyncio.Queue`` for it while the socket lives, nearly always empty: about
1.5 KB of empty deques per socket. And the socket's consumer may wait on
that inbox itself, together with daphne's, instead of through a task that
awaits ``receive`` (messaging/consumers.py). Everything else is
channels-redis's ``RedisPubSubChannelLayer`` (pinned in requirements.txt:
this builds on three of its internals, the per-loop layer, its ``channels``
dict and the method that makes an inbox).
"""

import asyncio
import logging

from channels_redis import pubsub  # type: ignore[import-untyped]  # no stubs, no py.typed

from .slim_queue import SlimQueue

logger = logging.getLogger(__name__)


class _SlimLoopLayer(pubsub.RedisPubSubLoopLayer):
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
