"""The benchmark's reference: a bare relay on the same stack, nothing stored.

One daphne runs this ASGI app (`daphne scripts.bench_relay:application`)
with the project's own channel layer settings (chat_project/settings.py:
channels-redis, same capacity, expiry and hosts). A socket names its user
with ``?user=<id>`` (no authentication), joins group ``user.<id>``, and a
``send`` frame is relayed as a ``message`` frame to the recipient's group,
then answered with an ``ack`` to the sending socket. No database, no Celery,
no unread counts: what the product does beyond this is what the ratio
``product delivered/s ÷ relay delivered/s`` prices (docs/benchmarks.md).

Only the benchmark starts it; it is never routed in production.
"""

import json
import os
from urllib.parse import parse_qs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

import django

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from chat_project.common.limits import CLOSE_UNAUTHENTICATED  # noqa: E402


def group(user_id: int) -> str:
    return f"user.{user_id}"


class RelayConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.user_id = int(query["user"][0])
        except (KeyError, ValueError):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        await self.channel_layer.group_add(group(self.user_id), self.channel_name)
        await self.send(text_data=json.dumps({"type": "ready", "user_id": self.user_id}))

    async def disconnect(self, code) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(group(self.user_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        try:
            frame = json.loads(text_data or "")
            if frame.get("type") != "send":
                return
            recipient = int(frame["to"])
        except (ValueError, KeyError, TypeError, AttributeError):
            await self.send(text_data=json.dumps({"type": "error", "code": "invalid_frame", "client_msg_id": None}))
            return
        message = {
            "sender_id": self.user_id,
            "recipient_id": recipient,
            "content": frame.get("content"),
            "client_msg_id": frame.get("client_msg_id"),
        }
        await self.channel_layer.group_send(
            group(recipient), {"type": "relay.message", "frame": {"type": "message", "message": message}}
        )
        await self.send(
            text_data=json.dumps({"type": "ack", "client_msg_id": message["client_msg_id"], "message": message})
        )

    async def relay_message(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event["frame"]))


async def healthz(scope, receive, send) -> None:
    """200 on any HTTP request: the benchmark waits for it as for the product's /healthz."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status": "ok"}'})


application = ProtocolTypeRouter(
    {
        "http": healthz,
        # The stubs want their own _ExtendedURLPattern, and re_path a view; a consumer app is both at run time.
        "websocket": URLRouter([re_path(r"^ws/chat/?$", RelayConsumer.as_asgi())]),  # type: ignore[list-item,arg-type]
    }
)
