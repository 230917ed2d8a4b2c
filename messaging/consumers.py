"""The WebSocket connection layer: ``/ws/chat/`` (PROTOCOL.md).

Thin on purpose: authenticate, register the socket (group + presence), then
turn each frame into a call of the same service functions the REST API
uses, and relay the user's group events to the socket. Nothing a client
sends may close the socket or crash the consumer: every problem becomes an
``error`` frame.
"""

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework.authtoken.models import Token

from chat_project.errors import ChatError, InvalidInput
from conversations.services import get_conversation_for
from profiles import store as presence
from unread.services import mark_read

from .push import EVENT_TYPE, user_group  # EVENT_TYPE "chat.event" -> ChatConsumer.chat_event
from .services import send_message
from .validation import check_id

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# Typing frames forwarded per conversation per socket at most this often.
TYPING_INTERVAL_SECONDS = 1.0


# Sends and reads of this process run on a small pool of their own, each
# thread with its own database connection: they overlap (and share the
# commit's fsync) instead of queueing on the one thread every other
# database call uses (DESIGN.md). Small, because under the GIL more threads
# starve the event loop that relays frames to the sockets.
_service_pool = ThreadPoolExecutor(max_workers=settings.CHAT_SOCKET_DB_THREADS, thread_name_prefix="chat-db")


def in_pool(func):
    return database_sync_to_async(func, thread_sensitive=False, executor=_service_pool)


@database_sync_to_async
def _user_for_token(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None else None


def _origin_allowed(scope) -> bool:
    """Session-cookie sockets must come from this site or a trusted origin (cross-site hijacking)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return False
    host = headers.get(b"host", b"").decode("latin-1")
    if urlsplit(origin).netloc == host:
        return True
    return origin in settings.CSRF_TRUSTED_ORIGINS


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    # The API token this socket authenticated with (None for a session socket).
    token_key: str | None = None
    heartbeat: asyncio.Task | None = None

    async def connect(self) -> None:
        # Accept first so that every client can read the 4401 close code.
        await self.accept()
        self.user = await self._authenticate()
        if self.user is None or not self.user.is_active:
            self.user = None
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = self.user.pk
        self.typing_sent: dict[int, float] = {}
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        await self._register()
        self.heartbeat = asyncio.create_task(self._keep_registered())
        await self._send_frame({"type": "ready", "user_id": self.user_id})

    async def _authenticate(self):
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens:
            self.token_key = tokens[0][:64]
            return await _user_for_token(self.token_key)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and _origin_allowed(self.scope):
            return user
        return None

    async def _register(self) -> None:
        """Mark this socket live in the user's presence set (also the heartbeat)."""
        await sync_to_async(presence.register_socket, thread_sensitive=False)(self.user_id, self.channel_name)

    async def _keep_registered(self) -> None:
        """Refresh this socket's presence well within its time-to-live."""
        interval = max(1.0, settings.CHAT_ONLINE_TTL_SECONDS / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._register()
            except Exception:
                logger.warning("presence heartbeat failed for user %s", self.user_id, exc_info=True)

    async def disconnect(self, code) -> None:
        if self.user is None:
            return
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
        try:
            await sync_to_async(presence.unregister_socket, thread_sensitive=False)(self.user_id, self.channel_name)
        except Exception:
            logger.warning("could not unregister a socket of user %s", self.user_id, exc_info=True)

    # --- frames from the client ------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.user is None:
            return
        frame: dict = {}
        try:
            frame = self._parse(text_data, bytes_data)
            frame_type = frame.get("type")
            # A list or an object as "type" is malformed, not a server error.
            handler = self.HANDLERS.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise InvalidFrame("Unknown or missing frame type.")
            await handler(self, frame)
        except ChatError as exc:
            await self._send_error(exc, frame)
        except Exception:
            logger.exception("frame from user %s failed", self.user_id)
            await self._send_error(ChatError("The frame could not be processed."), frame, code="server_error")

    def _parse(self, text_data, bytes_data) -> dict:
        if text_data is None:
            raise InvalidFrame("Frames are JSON text, not binary.")
        if len(text_data) > settings.CHAT_MAX_FRAME_BYTES or (
            len(text_data.encode("utf-8", "surrogatepass")) > settings.CHAT_MAX_FRAME_BYTES
        ):
            raise InvalidInput(f"Frames are at most {settings.CHAT_MAX_FRAME_BYTES} bytes.")
        try:
            frame = json.loads(text_data)
        except ValueError:
            raise InvalidFrame("The frame is not valid JSON.") from None
        if not isinstance(frame, dict):
            raise InvalidFrame("A frame is a JSON object with a type.")
        return frame

    async def _on_send(self, frame: dict) -> None:
        result = await in_pool(send_message)(
            self.user, frame.get("to"), frame.get("content"), frame.get("client_msg_id")
        )
        await self._send_frame(
            {"type": "ack", "client_msg_id": result.message["client_msg_id"], "message": result.message}
        )

    async def _on_read(self, frame: dict) -> None:
        conversation_id = check_id("conversation_id", frame.get("conversation_id"))
        up_to = check_id("up_to", frame.get("up_to"), required=False)
        await in_pool(mark_read)(self.user_id, conversation_id, up_to)

    async def _on_typing(self, frame: dict) -> None:
        conversation_id = check_id("conversation_id", frame.get("conversation_id"))
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, 0.0) < TYPING_INTERVAL_SECONDS:
            return
        conversation = await database_sync_to_async(get_conversation_for)(self.user_id, conversation_id)
        self.typing_sent[conversation_id] = now
        await self.channel_layer.group_send(
            user_group(conversation.peer_id(self.user_id)),
            {
                "type": EVENT_TYPE,
                "frame": {"type": "typing", "conversation_id": conversation_id, "user_id": self.user_id},
            },
        )

    async def _on_ping(self, frame: dict) -> None:
        await self._send_frame({"type": "pong"})

    HANDLERS = {"send": _on_send, "read": _on_read, "typing": _on_typing, "ping": _on_ping}

    # --- frames to the client --------------------------------------------------

    async def chat_event(self, event: dict) -> None:
        """A frame for this user from the channel layer (push.py)."""
        await self._send_frame(event["frame"])

    async def chat_close(self, event: dict) -> None:
        """The user was deactivated, or the token of this socket was revoked."""
        token = event.get("token")
        if token is None or token == self.token_key:
            await self.close(code=event["code"])

    async def _send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def _send_error(self, exc: ChatError, frame: dict, code: str | None = None) -> None:
        body = {"type": "error", **exc.as_dict()}
        if code is not None:
            body["code"] = code
        client_msg_id = frame.get("client_msg_id") if isinstance(frame, dict) else None
        body["client_msg_id"] = client_msg_id if isinstance(client_msg_id, str) else None
        await self._send_frame(body)


class InvalidFrame(ChatError):
    code = "invalid_frame"
    status = 400
    default_detail = "The frame is malformed."
