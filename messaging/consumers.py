"""The WebSocket connection layer: ``/ws/chat/`` (PROTOCOL.md).

Thin on purpose: check who connected (chat_project/ws_auth.py put the user
in the scope), register the socket (group + presence), then turn each frame
into a call of the same service functions the REST API uses, and relay the
user's group events to the socket. Nothing a client sends may close the
socket or crash the consumer: every problem becomes an ``error`` frame.

The process's heartbeat (messaging/heartbeat.py) keeps every socket's
registration alive and repairs it: channels-redis keeps group membership in
Redis, so after a Redis flush or restart an open socket would hear nothing
while looking online. A socket whose presence entry had vanished, or that
missed a numbered push, re-joins its groups and sends ``resync``
(PROTOCOL.md 1.1): events may have been lost, and the client syncs.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeGuard, cast
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from redis.exceptions import RedisError

from chat_project.common import push
from chat_project.common.connect_gate import Opening
from chat_project.common.errors import ChatError, InvalidInput, RateLimited, outage_error
from chat_project.common.json_renderer import frame_text
from chat_project.common.limits import CLOSE_SERVICE_RESTART, CLOSE_UNAUTHENTICATED
from chat_project.common.pubsub_layer import SlimPubSubChannelLayer
from chat_project.common.push import user_group, watch_group
from chat_project.common.ratelimit import check_frame_rate
from chat_project.common.slim_queue import SlimQueue, wait_either
from conversations.services import get_conversation_for
from profiles import blocks, presence

# Channel-layer events (chat_project/common/push.py): "chat.event" -> chat_event,
# "chat.watched" -> chat_watched, "chat.close" -> chat_close, "chat.blocks" -> chat_blocks.
from .admission import ARRIVED, check_frame_wait, stamp_arrivals
from .drain import process_drain
from .heartbeat import process_heartbeat
from .inputs import READ_FRAME, SEND, TYPING_FRAME, WATCH_FRAME
from .push_sequence import PushSequence
from .reads import mark_read
from .sending import sent, submit_send
from .socket_batches import close_socket, open_socket
from .validation import check_frame_ref

logger = logging.getLogger(__name__)

try:  # daphne's WebSocket implementation raises this on a send to a connection that closed meanwhile
    from autobahn.exception import Disconnected as ClientGone
except ImportError:  # another ASGI server

    class ClientGone(Exception):  # type: ignore[no-redef]
        pass


# Typing frames forwarded per conversation per socket at most this often.
TYPING_INTERVAL_SECONDS = 1.0
# channels-redis forgets a group member after a day (group_expiry): groups
# are re-joined this often, and at once after a loss.
GROUPS_REFRESH_SECONDS = 3600


# Sends and reads of this process run on a small pool of their own, each
# thread with its own database connection: they overlap (and share the
# commit's fsync) instead of queueing on the one thread every other
# database call uses (DESIGN.md). Small, because under the GIL more threads
# starve the event loop that relays frames to the sockets.
_service_pool = ThreadPoolExecutor(max_workers=settings.CHAT_SOCKET_DB_THREADS, thread_name_prefix="chat-db")


def in_pool(func):
    return database_sync_to_async(func, thread_sensitive=False, executor=_service_pool)


def in_thread(func):
    """Redis-only work (presence, rate limits), off the event loop."""
    return sync_to_async(func, thread_sensitive=False)


def with_db(func):
    """Presence work that also touches the database (last_seen, profiles), off the event loop."""
    return database_sync_to_async(func, thread_sensitive=False)


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

    # When daphne queued the frame being handled, and the seconds spent in handlers (messaging/admission.py).
    frame_arrived: tuple[float, float] | None = None
    busy = 0.0

    # The stopping process unregistered this socket's presence with all the others (messaging/heartbeat.py),
    # and the user's last_seen if the watchers are to hear from this socket that the user went offline.
    process_unregistered = False
    process_last_seen: str | None = None
    # Its disconnect left its groups (``_leave_groups``).
    groups_left = False

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, with one waiting future per socket instead of two tasks and a wait.

        Channels keeps a task waiting on each of the socket's two inboxes (the
        client's frames, the pushed events) and an ``asyncio.wait`` over them,
        for the socket's whole life: about 2 KB of an idle socket. Under daphne
        and the pub/sub layer both inboxes are SlimQueues, and this waits on
        them with one future (``wait_either``). Events are handled one at a
        time and one per turn of the event loop, in the order each inbox got
        them, taking turns when both hold some, as Channels' loop does.
        Elsewhere (the ``core`` layer), Channels' loop.
        """
        # Under daphne (chat_project/daphne_sockets.py) ``receive`` is the get of the socket's SlimQueue.
        frames = getattr(receive, "__self__", None)
        if not isinstance(frames, SlimQueue):
            frames = None
        stamp_arrivals(frames, lambda: self.busy)
        layer = get_channel_layer(self.channel_layer_alias)
        if not isinstance(layer, SlimPubSubChannelLayer) or frames is None:
            try:
                await super().__call__(scope, receive, send)
            finally:
                await self._leave_groups_left_joined()
            return
        self.scope, self.channel_layer, self.base_send = scope, layer, send
        self.channel_name = await layer.new_channel()
        try:
            events = layer.inbox(self.channel_name)
            if events is None:  # the layer was flushed meanwhile
                raise StopConsumer
            await self._dispatch_from(layer, frames, events)
        except StopConsumer:
            pass
        finally:
            await self._leave_groups_left_joined()
            await layer.forget_channel(self.channel_name)

    async def _leave_groups_left_joined(self) -> None:
        """Leave the groups a disconnect did not: daphne cancels a consumer still connecting or
        disconnecting ``application_close_timeout`` (10 s) after its client left (a reconnect storm).
        The layer kept such a socket's memberships for the process's life, and its subscriptions."""
        if self.user is None or self.groups_left or self._groups_end_with_process():
            return
        try:
            await self._leave_groups()
        except Exception:
            logger.warning("could not leave the groups of a socket of user %s", self.user_id, exc_info=True)

    async def _dispatch_from(self, layer: SlimPubSubChannelLayer, frames: SlimQueue, events: SlimQueue) -> None:
        events_next = False
        while True:
            await wait_either(frames, events)
            if not events.empty() and (events_next or frames.empty()):
                events_next = False
                await self.dispatch(layer.deserialize(events.get_nowait()))
            else:
                events_next = True
                await self.dispatch(frames.get_nowait())
            # One event per turn of the event loop, as in Channels' loop: a client's flood
            # of frames waits its turn behind the other sockets (and is seen to wait:
            # messaging/admission.py) instead of holding the loop.
            await asyncio.sleep(0)

    async def websocket_receive(self, message) -> None:
        self.frame_arrived = message.get(ARRIVED)
        await super().websocket_receive(message)

    async def dispatch(self, message) -> None:
        """Channels' dispatch without its per-event ``close_old_connections``.

        Channels hops to a thread to run it before every handler: every frame
        and every pushed event paid a thread round trip, 7 % of a daphne's
        samples under load (py-spy, docs/benchmarks.md). This consumer never
        touches the database on the event loop's thread: each call goes
        through ``database_sync_to_async``, which closes stale connections
        around the call itself, or through the committer thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        started = time.monotonic()
        try:
            await handler(message)
        finally:
            self.busy += time.monotonic() - started

    async def connect(self) -> None:
        # Accept first so that every client can read the 4401 close code.
        await self.accept()
        self.token_key = cast("str | None", self.scope.get("auth_token"))  # set by ws_auth.SocketAuthMiddleware
        user = self.scope.get("user")
        if not self._may_connect(user):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if process_drain().draining:
            # This host is being drained: come back through the load balancer.
            await self.close(code=CLOSE_SERVICE_RESTART)
            return
        self.user = user
        self.user_id = user.pk
        self.typing_sent: dict[int, float] = {}
        # Watched user id -> the online state last told to the client.
        self.watching: dict[int, bool] = {}
        self.groups_joined_at = time.monotonic()
        # Sends waiting for their batch (each a task, so the next frame is read meanwhile).
        self.sends: set[asyncio.Task] = set()
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        # One thread hop with the other sockets opening meanwhile (socket_batches.py): the users this one
        # blocks or is blocked by (PROTOCOL.md 1.2: no typing, presence or profile frames between them;
        # reloaded on ``chat.blocks``), the number of its latest push, its presence's registration.
        self.blocked, push_seq, registration = await open_socket((self.user_id, self.channel_name))
        self.push_sequence = PushSequence(push_seq)
        await self._after_register(registration)
        process_heartbeat().add(self)
        process_drain().add(self)
        await self._send_frame({"type": "ready", "user_id": self.user_id})
        opening = cast("Opening | None", self.scope.get("opening"))  # ws_auth's (common/connect_gate.py)
        if opening is not None:
            opening.done()

    async def drain_close(self) -> None:
        """This host is being drained (messaging/drain.py): the client reconnects, elsewhere."""
        await self.close(code=CLOSE_SERVICE_RESTART)

    def _may_connect(self, user) -> TypeGuard[AbstractBaseUser]:
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        # A token needs no origin; a session cookie must come from this site.
        return self.token_key is not None or _origin_allowed(self.scope)

    async def _after_register(self, registration) -> None:
        """Tell watchers when this registration brought the user online."""
        if registration.came_online:
            await self._tell_watchers(presence.presence_frame(self.user_id, True, None))

    async def _tell_watchers(self, frame: dict) -> None:
        await push.asend([push.to_watchers(self.user_id, frame)])

    def after_beat(self, registration, push_seq: int) -> Coroutine[Any, Any, None] | None:
        """This socket's part of the process heartbeat (messaging/heartbeat.py): repair, then report.

        The presence entry was refreshed already; a missing one (Redis lost it)
        or a gap in the push numbers (the channel layer dropped an event, or
        lost this socket's groups) means events may be gone: re-join the groups
        and tell the client to sync. Returns the work to await, or None when
        there is none, the usual case: an idle socket costs no task per beat.
        """
        missed = self.push_sequence.check(push_seq)
        now = time.monotonic()
        rejoin = registration.was_lost or missed or now - self.groups_joined_at > GROUPS_REFRESH_SECONDS
        if not (rejoin or registration.came_online or self.watching):
            return None
        if rejoin:
            self.groups_joined_at = now
        return self._repair_and_report(registration, rejoin, resync=registration.was_lost or missed)

    async def _repair_and_report(self, registration, rejoin: bool, resync: bool) -> None:
        await self._after_register(registration)
        if rejoin:
            await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
            await self._join_watch_groups(list(self.watching))
        if resync:
            await self._send_frame({"type": "resync"})
        if self.watching:
            for frame in await with_db(presence.check_watched)(dict(self.watching)):
                await self._tell_watched(frame)

    async def _join_watch_groups(self, user_ids: list[int]) -> None:
        await asyncio.gather(*(self.channel_layer.group_add(watch_group(u), self.channel_name) for u in user_ids))

    def _groups_end_with_process(self) -> bool:
        """A stopping process's pub/sub subscriptions end with its connection to the layer: none to leave."""
        return process_heartbeat().stopping and isinstance(self.channel_layer, SlimPubSubChannelLayer)

    async def _leave_groups(self) -> None:
        await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
        await self._leave_watch_groups(list(getattr(self, "watching", ())))
        self.groups_left = True

    async def _leave_watch_groups(self, user_ids: list[int]) -> None:
        await asyncio.gather(*(self.channel_layer.group_discard(watch_group(u), self.channel_name) for u in user_ids))

    async def disconnect(self, code) -> None:
        if self.user is None:
            return
        # Waits for a beat in progress: its registration, still running in a
        # thread, could land after the unregistration below and keep the user
        # online for a TTL.
        process_drain().remove(self)
        await process_heartbeat().remove(self)
        # Their sends are queued and will be stored; nobody is left to hear the ack.
        for task in self.sends:
            task.cancel()
        if not self._groups_end_with_process():
            try:
                await self._leave_groups()
            except Exception:
                logger.warning("could not leave the groups of a socket of user %s", self.user_id, exc_info=True)
        try:
            if self.process_unregistered:
                last_seen = self.process_last_seen
            else:
                last_seen = await close_socket((self.user_id, self.channel_name))
            if last_seen is not None:
                await self._tell_watchers(presence.presence_frame(self.user_id, False, last_seen))
        except Exception:
            logger.warning("could not unregister a socket of user %s", self.user_id, exc_info=True)

    def unregistered(self, last_seen: str | None) -> None:
        """Its process's heartbeat unregistered it (the process stops): the disconnect need not."""
        self.process_unregistered = True
        self.process_last_seen = last_seen

    # --- frames from the client ------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.user is None:
            return
        frame: dict = {}
        try:
            try:
                frame = self._parse(text_data, bytes_data)
                handler = self._handler_for(frame)
                check_frame_ref(frame.get("ref"))
            except ChatError:
                # Malformed frames count against the frame rate like any other.
                await self._count_frame()
                raise
            if frame["type"] != "send":
                # Sends have their own limit, in the send service.
                await self._count_frame()
            await handler(self, frame)
        except Exception as exc:
            await self._answer_failure(exc, frame)

    async def _answer_failure(self, exc: Exception, frame: dict) -> None:
        """The ``error`` frame for a frame that failed: its own code, ``unavailable`` for an outage."""
        if isinstance(exc, ChatError):
            await self._send_error(exc, frame)
            return
        outage = outage_error(exc)
        if outage is not None:
            logger.warning("frame from user %s: %s", self.user_id, exc)
            await self._send_error(outage, frame)
            return
        logger.error("frame from user %s failed", self.user_id, exc_info=exc)
        await self._send_error(ChatError("The frame could not be processed."), frame, code="server_error")

    def _parse(self, text_data, bytes_data) -> dict:
        if text_data is None:
            raise InvalidFrame("Frames are JSON text, not binary.")
        # The length first: an oversized frame is refused before it is parsed
        # (or even encoded, when its code points alone are too many).
        limit = settings.CHAT_MAX_FRAME_BYTES
        if len(text_data) > limit or (
            len(text_data) * 4 > limit and len(text_data.encode("utf-8", "surrogatepass")) > limit
        ):
            detail = f"Frames are at most {limit} bytes."
            raise InvalidInput(detail, {"non_field_errors": [detail]})
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: JSON nested deeper than the parser's stack.
            raise InvalidFrame("The frame is not valid JSON (or is nested too deeply).") from None
        if not isinstance(frame, dict):
            raise InvalidFrame("A frame is a JSON object with a type.")
        return frame

    def _handler_for(self, frame: dict):
        frame_type = frame.get("type")
        # A list or an object as "type" is malformed, not a server error.
        handler = self.HANDLERS.get(frame_type) if isinstance(frame_type, str) else None
        if handler is None:
            raise InvalidFrame("Unknown or missing frame type.")
        return handler

    async def _count_frame(self) -> None:
        if not settings.CHAT_RATE_LIMITS:
            return
        try:
            await in_thread(check_frame_rate)(self.user_id)
        except RedisError:
            # Without Redis there is no shared count: let the frame through.
            logger.warning("frame rate of user %s not checked", self.user_id, exc_info=True)

    async def _on_send(self, frame: dict) -> None:
        """Queue the send now, in the order frames came, and answer it when its batch commits.

        The answer waits in a task of its own, so this socket's next frames
        are read meanwhile: a client with several sends in flight has them
        committed together. A send whose frame waited too long in daphne's
        queue, or one over the socket's sends in flight, is refused here, at
        once (messaging/admission.py).
        """
        check_frame_wait(self.frame_arrived, self.busy)
        if len(self.sends) >= settings.CHAT_SOCKET_SENDS_IN_FLIGHT:
            raise RateLimited(
                1, f"At most {settings.CHAT_SOCKET_SENDS_IN_FLIGHT} sends may wait for their ack on one socket."
            )
        # No thread: the check is pure, and the committer thread accepts the
        # send in a batch while the task waits (messaging/accept.py).
        future = submit_send(self.user_id, SEND.parse(frame))
        task = asyncio.create_task(self._answer_send(future, frame))
        self.sends.add(task)
        task.add_done_callback(self.sends.discard)

    async def _answer_send(self, future, frame: dict) -> None:
        try:
            result = await sent(future)
        except Exception as exc:
            await self._answer_failure(exc, frame)
            return
        ack = {"type": "ack", "client_msg_id": result.message["client_msg_id"], "message": result.message}
        await self._send_frame(_with_ref(ack, frame))

    async def _on_read(self, frame: dict) -> None:
        read = READ_FRAME.parse(frame)
        await in_pool(mark_read)(self.user_id, read.conversation_id, read.up_to)

    async def _on_typing(self, frame: dict) -> None:
        conversation_id = TYPING_FRAME.parse(frame).conversation_id
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, 0.0) < TYPING_INTERVAL_SECONDS:
            return
        conversation = await database_sync_to_async(get_conversation_for)(self.user_id, conversation_id)
        self.typing_sent[conversation_id] = now
        peer_id = conversation.peer_id(self.user_id)
        if peer_id in self.blocked:
            return  # withheld (PROTOCOL.md 1.2 blocking), without telling either side
        frame = {"type": "typing", "conversation_id": conversation_id, "user_id": self.user_id}
        await push.asend([push.to_user(peer_id, [frame])])

    async def _on_ping(self, frame: dict) -> None:
        await self._send_frame(_with_ref({"type": "pong"}, frame))

    async def _on_watch(self, frame: dict) -> None:
        """Replace this socket's watch list; answer with the watched users' presence (PROTOCOL.md 1.1)."""
        user_ids = WATCH_FRAME.parse(frame).user_ids
        wanted = set(user_ids)
        await self._leave_watch_groups([u for u in self.watching if u not in wanted])
        await self._join_watch_groups([u for u in user_ids if u not in self.watching])
        # Until the snapshot says otherwise (a user who does not exist stays "offline").
        self.watching = {u: self.watching.get(u, False) for u in user_ids}
        if not user_ids:
            return
        for presence_frame in await with_db(presence.watch_snapshot)(user_ids):
            if presence_frame["user_id"] in self.blocked:
                # Blocked either way: seen offline, last_seen null.
                presence_frame = presence.presence_frame(presence_frame["user_id"], False, None)
            self.watching[presence_frame["user_id"]] = presence_frame["online"]
            await self._send_frame(presence_frame)

    HANDLERS = {
        "send": _on_send,
        "read": _on_read,
        "typing": _on_typing,
        "ping": _on_ping,
        "watch": _on_watch,
    }

    # --- frames to the client --------------------------------------------------

    async def chat_event(self, event: dict) -> None:
        """Frames for this user from the channel layer (push.py): one, or several in order."""
        if event.get("seq") is not None:
            self.push_sequence.saw(event["seq"])
        for frame in event.get("frames") or [event["frame"]]:
            await self._send_frame(frame)

    async def chat_watched(self, event: dict) -> None:
        """A presence or profile frame about a user some socket watches (push.watch_group)."""
        await self._tell_watched(event["frame"])

    async def chat_blocks(self, event: dict) -> None:
        """This user's blocks changed: reload them; watched users blocked now look offline, unblocked ones real."""
        before = self.blocked
        try:
            self.blocked = await with_db(blocks.blocked_with)(self.user_id)
        except Exception:
            # Redis or the database did not answer: keep the old set rather than drop the socket.
            logger.warning("could not reload the blocks of user %s", self.user_id, exc_info=True)
            return
        for user_id in [u for u in self.watching if u in (before ^ self.blocked)]:
            if user_id in self.blocked:
                if self.watching[user_id]:
                    self.watching[user_id] = False
                    await self._send_frame(presence.presence_frame(user_id, False, None))
            else:
                for frame in await with_db(presence.watch_snapshot)([user_id]):
                    self.watching[user_id] = frame["online"]
                    await self._send_frame(frame)

    async def _tell_watched(self, frame: dict) -> None:
        about = frame["user_id"] if frame["type"] == "presence" else frame["profile"]["user_id"]
        if about in self.blocked:
            return  # withheld both ways (PROTOCOL.md 1.2 blocking)
        if frame["type"] == "presence":
            user_id = frame["user_id"]
            # Only news: a snapshot or a heartbeat check may already have said it.
            if user_id not in self.watching or self.watching[user_id] == frame["online"]:
                return
            self.watching[user_id] = frame["online"]
        elif frame["profile"]["user_id"] not in self.watching:
            return
        await self._send_frame(frame)

    async def chat_close(self, event: dict) -> None:
        """The user was deactivated, or the token of this socket was revoked."""
        token = event.get("token")
        if token is None or token == self.token_key:
            await self.close(code=event["code"])

    async def _send_frame(self, frame: dict) -> None:
        # The client may have closed while this was on its way (in a reconnect storm it gives up waiting for
        # "ready"): its disconnect is queued behind this handler and cleans up; the frame has nobody to read it.
        with contextlib.suppress(ClientGone):
            await self.send(text_data=frame_text(frame))

    async def _send_error(self, exc: ChatError, frame: dict, code: str | None = None) -> None:
        body = {"type": "error", **exc.as_dict()}
        if code is not None:
            body["code"] = code
        if exc.retry_after is not None:
            body["retry_after"] = exc.retry_after
        client_msg_id = frame.get("client_msg_id")
        body["client_msg_id"] = client_msg_id if isinstance(client_msg_id, str) else None
        await self._send_frame(_with_ref(body, frame))


def _with_ref(answer: dict, frame: dict) -> dict:
    """The answer to ``frame``, tagged with the frame's ``ref`` when it carried a valid one (PROTOCOL.md 1.2)."""
    ref = frame.get("ref")
    try:
        if check_frame_ref(ref) is not None:
            answer["ref"] = ref
    except ChatError:
        pass  # a malformed ref is not echoed: its error names the field
    return answer


class InvalidFrame(ChatError):
    code = "invalid_frame"
    status = 400
    default_detail = "The frame is malformed."
