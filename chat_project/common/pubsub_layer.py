"""channels-redis's pub/sub layer, each channel's inbox a ``SlimQueue`` (common/slim_queue.py).

Every socket subscribes one channel of its own, and the layer keeps an
``asyncio.Queue`` for it while the socket lives, nearly always empty: about
1.5 KB of empty deques per socket. Everything else is channels-redis's
``RedisPubSubChannelLayer`` (pinned in requirements.txt: this builds on two
of its internals, the per-loop layer and the method that makes an inbox).
"""

import asyncio

from channels_redis import pubsub  # type: ignore[import-untyped]  # no stubs, no py.typed

from .slim_queue import SlimQueue


class _SlimLoopLayer(pubsub.RedisPubSubLoopLayer):
    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = SlimQueue()
        await self._get_shard(channel).subscribe(channel)


class SlimPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """``CHAT_CHANNEL_LAYER_BACKEND=pubsub`` (the default): one loop layer per event loop, as the original."""

    def _get_layer(self) -> pubsub.RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _SlimLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            pubsub._wrap_close(self, loop)  # the original's clean-up when the loop closes
        return layer
