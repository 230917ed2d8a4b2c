"""``ChatClient``: one user's socket, catch-up, outbox and events, over REST (``Rest``) and ``/ws/chat/``.

States, after Centrifugo's client SDK spec: ``disconnected`` (initial, after
``disconnect()``, after a 4401 close: no retry) -> ``connecting`` (opening, or
lost: a close or a missing pong; reconnects with backoff) -> ``connected``
(the socket said ``ready`` AND the catch-up from the cursor finished). A
``resync`` frame runs a catch-up on the open socket.
"""

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import os
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .attachments import ProgressCallback, Upload, file_size
from .backoff import MAX_DELAY, MIN_DELAY, backoff, restart_delay
from .errors import CLOSED, NOT_CONNECTED, ChatError, InvalidAttachment, UploadCancelled
from .events import (
    CaughtUp,
    ErrorReceived,
    Event,
    MessageChanged,
    MessageReceived,
    Presence,
    ProfileChanged,
    ReadReceipt,
    Recalled,
    SendFailed,
    SendQueued,
    State,
    StateChanged,
    Typing,
    UnreadChanged,
    UploadProgress,
)
from .ledger import Ledger, catch_up
from .models import (
    Attachment,
    AttachmentLimits,
    Conversation,
    ConversationPage,
    HistoryPage,
    Message,
    OfflineGroup,
    OutboxEntry,
    Profile,
    SearchPage,
    SyncPage,
    Unread,
)
from .rest import Rest
from .storage import MemoryStore, Saved, Store

logger = logging.getLogger("chat_sdk")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_RESTART = 1012
# Live messages emitted beyond the cursor before a quiet catch-up moves the cursor past them
# (it keeps the saved "seen" set, and so the store file, small).
SEEN_LIMIT = 1000
SAVE_DELAY = 0.5
# Uploads of one queued message that may fail in a row, unanswered or with a 5xx, on one socket before the
# message fails: the server reachable all along, the file is the likely cause (a server that refuses a body
# too large for it as soon as the headers are in closes the connection, which can reach the client as a
# reset, not a 413). A new socket starts the count again; a 429 honours its Retry-After and is not counted.
MAX_UPLOAD_FAILURES = 5

Handler = Callable[[Any], object]


def socket_url(base_url: str, token: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/ws/chat/"
    return urlunsplit((scheme, parts.netloc, path, f"token={quote(token)}", ""))


class ChatClient:
    """``async with ChatClient(base_url, token=...) as client: async for event in client.events(): ...``"""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        store: Store | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ping_interval: float = 25.0,
        pong_timeout: float = 10.0,
        min_reconnect_delay: float = MIN_DELAY,
        max_reconnect_delay: float = MAX_DELAY,
        open_timeout: float = 10.0,
        sync_limit: int | None = None,
        full_page_wait: float = 1.0,
        typing_interval: float = 3.0,
        rng: random.Random | None = None,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.rest = Rest(base_url, token, transport=transport, max_upload_bytes=max_upload_bytes)
        self.store: Store = store or MemoryStore()
        saved = self.store.load()
        self.ledger = Ledger(saved.cursor, saved.seen)
        self._outbox: dict[str, OutboxEntry] = {e.client_msg_id: e for e in saved.outbox}
        self.ping_interval, self.pong_timeout, self.open_timeout = ping_interval, pong_timeout, open_timeout
        self.min_reconnect_delay, self.max_reconnect_delay = min_reconnect_delay, max_reconnect_delay
        self.sync_limit, self.full_page_wait, self.typing_interval = sync_limit, full_page_wait, typing_interval
        self._rng = rng or random.Random()
        # Waits between reconnects (tests put a fake clock here).
        self.sleep: Callable[[float], Awaitable[object]] = asyncio.sleep

        self.state: State = "disconnected"
        self.user_id: int | None = None
        self.attempt = 0  # reconnect attempts since the last ready
        self._state_signal = asyncio.Event()
        self._last_close: tuple[int | None, str] = (None, "")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ws: ClientConnection | None = None
        self._lost: tuple[int | None, str] | None = None  # why the client itself dropped the socket

        self._waiters: dict[str, asyncio.Future[Message]] = {}
        self._in_flight: set[str] = set()  # sent on the current socket, unanswered
        self._uploads: dict[str, asyncio.Task[None]] = {}  # client_msg_id -> the task uploading its files
        self._upload_failures: dict[str, int] = {}  # client_msg_id -> uploads failed in a row (the backoff)
        self._flush_lock = asyncio.Lock()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._pongs: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = itertools.count(1)

        self._catch_up_task: asyncio.Task[None] | None = None
        self._catching_up = False
        self._again = False
        self._buffer: list[dict[str, Any]] = []
        self._save_timer: asyncio.TimerHandle | None = None

        self._recalled: set[int] = set()  # msg_ids whose Recalled event was emitted
        self._watching: list[int] | None = None
        self._typing_sent: dict[int, float] = {}
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._backlog: deque[Event] = deque(maxlen=10_000)
        self._handlers: dict[str, list[Handler]] = {}
        self._handler_tasks: set[asyncio.Task[Any]] = set()

    # --- life cycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "ChatClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Start connecting (returns at once; ``await ready()`` waits for ``connected``)."""
        if self._task is not None and not self._task.done():
            return
        self._closing = False
        self._set_state("connecting")
        self._task = asyncio.create_task(self._run(), name="chat-sdk-connection")

    async def disconnect(self) -> None:
        """Close the socket and stop reconnecting; the outbox and cursor are saved (and kept for next time)."""
        self._closing = True
        task, self._task = self._task, None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 3)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Unfinished uploads start again from their file at the next connect (the entry keeps its paths).
        uploads = list(self._uploads.values())
        for upload in uploads:
            upload.cancel()
        await asyncio.gather(*uploads, return_exceptions=True)
        self._save_now()
        self._fail_waiters(ChatError(CLOSED, "the client was disconnected before the ack (kept in the outbox)"))
        self._set_state("disconnected", None, "disconnect()")
        self._end_subscribers()

    async def aclose(self) -> None:
        await self.disconnect()
        await self.rest.aclose()

    async def ready(self, timeout: float | None = None) -> None:
        """Wait for ``connected``; ChatError if the client ends up ``disconnected`` (4401: not_authenticated)."""
        async with asyncio.timeout(timeout):
            while self.state != "connected":
                signal = self._state_signal
                if self.state == "disconnected":
                    code, reason = self._last_close
                    raise ChatError("not_authenticated" if code == CLOSE_UNAUTHENTICATED else NOT_CONNECTED, reason)
                await signal.wait()

    # --- events -----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on (the first subscriber also gets those emitted before it subscribed);
        ends after the ``disconnected`` state event."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        if not self._subscribers:
            while self._backlog:
                queue.put_nowait(self._backlog.popleft())
        self._subscribers.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(event)`` (a function or a coroutine function) for each event of ``kind`` ("*": all).
        Handlers run on the read loop: keep them fast."""
        self._handlers.setdefault(kind, []).append(handler)

    def _emit(self, event: Event) -> None:
        for handler in [*self._handlers.get(event.kind, ()), *self._handlers.get("*", ())]:
            try:
                result = handler(event)
            except Exception:
                # An application's bug must not stop the read loop (nor lose the events after it).
                logger.exception("a %s handler raised", event.kind)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
        if self._subscribers:
            for queue in self._subscribers:
                queue.put_nowait(event)
        else:
            self._backlog.append(event)

    def _end_subscribers(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)

    def _set_state(self, state: State, code: int | None = None, reason: str = "") -> None:
        if state == self.state:
            return
        self.state = state
        self._state_signal.set()
        self._state_signal = asyncio.Event()
        self._emit(StateChanged(state, code, reason))

    # --- the connection ---------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            code, reason = await self._one_connection()
            self._ws = None
            self._in_flight.clear()
            self._last_close = (code, reason)
            if self._closing:
                return
            if code == CLOSE_UNAUTHENTICATED:
                self._closing = True
                self._save_now()
                self._fail_waiters(ChatError("not_authenticated", reason or "the server closed the socket with 4401"))
                self._set_state("disconnected", code, reason)
                self._end_subscribers()
                return
            self._set_state("connecting", code, reason)
            if code == CLOSE_RESTART:
                delay = restart_delay(self._rng)
            else:
                delay = backoff(self.attempt, self.min_reconnect_delay, self.max_reconnect_delay, self._rng)
                self.attempt += 1
            await self.sleep(delay)

    async def _one_connection(self) -> tuple[int | None, str]:
        """Open, read until the socket ends; its close code and reason."""
        try:
            ws = await connect(
                socket_url(self.base_url, self.token),
                open_timeout=self.open_timeout,
                ping_interval=None,
                close_timeout=2,
                max_size=None,
                proxy=None,
            )
        except Exception as exc:
            return None, f"could not connect: {exc!r}"
        self._ws, self._lost = ws, None
        pinger: asyncio.Task[None] | None = None
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
            if first.get("type") != "ready":
                return None, f"expected ready, got {first.get('type')!r}"
            self.user_id = first.get("user_id")
            self.attempt = 0
            self._upload_failures.clear()
            self._start_catch_up()
            if self._watching is not None:
                await self._send_frame({"type": "watch", "user_ids": self._watching, "ref": self._ref("watch")})
            pinger = asyncio.create_task(self._ping_loop(ws))
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(frame, dict):
                    continue
                try:
                    self._on_frame(frame)
                except (KeyError, TypeError, ValueError):
                    # A frame this SDK cannot read (a server newer than it): skipped, never fatal.
                    logger.warning("skipped a %r frame it could not read", frame.get("type"), exc_info=True)
        except ConnectionClosed:
            pass
        except TimeoutError:
            self._lost = self._lost or (None, "no ready frame in time")
        except Exception as exc:
            # Whatever went wrong with this socket, the next one may work: reconnect with backoff.
            logger.warning("the socket failed", exc_info=True)
            self._lost = self._lost or (None, f"socket failed: {exc!r}")
        finally:
            for task in (pinger, self._catch_up_task):
                if task is not None and not task.done():
                    task.cancel()
            self._catching_up = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        if self._lost is not None:
            return self._lost
        return ws.close_code, ws.close_reason or ""

    def _drop(self, ws: ClientConnection, code: int | None, reason: str) -> None:
        """End a socket the client gave up on (no pong, a failed catch-up): the reader sees it closed."""
        self._lost = (code, reason)
        ws.transport.abort()

    async def _ping_loop(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            ref = self._ref("ping")
            pong = asyncio.get_running_loop().create_future()
            self._pongs[ref] = pong
            try:
                await ws.send(json.dumps({"type": "ping", "ref": ref}))
                await asyncio.wait_for(pong, self.pong_timeout)
            except TimeoutError:
                self._drop(ws, None, f"no pong within {self.pong_timeout:g} s")
                return
            except ConnectionClosed:
                return
            finally:
                self._pongs.pop(ref, None)

    async def _send_frame(self, frame: dict[str, Any]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except ConnectionClosed:
            return False
        return True

    def _ref(self, what: str) -> str:
        return f"{what}-{next(self._refs)}"

    # --- frames from the server -------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in ("message", "changed", "recalled"):
            self._live(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "error":
            self._on_error(frame)
        elif kind == "pong":
            self._on_pong(frame)
        elif kind == "resync":
            self._start_catch_up()
        elif kind == "unread":
            self._emit(UnreadChanged(frame["conversation_id"], frame["unread"], frame["total"]))
        elif kind == "read":
            self._emit(ReadReceipt(frame["conversation_id"], frame["reader_id"], frame.get("up_to")))
        elif kind == "typing":
            self._emit(Typing(frame["conversation_id"], frame["user_id"]))
        elif kind == "presence":
            self._emit(Presence(frame["user_id"], bool(frame["online"]), frame.get("last_seen")))
        elif kind == "profile":
            self._emit(ProfileChanged(Profile.from_dict(frame["profile"])))

    def _live(self, frame: dict[str, Any]) -> None:
        """A frame about a message: held while a catch-up runs (emitted after its pages), else emitted now."""
        if self._catching_up:
            self._buffer.append(frame)
        else:
            self._apply_live(frame)

    def _apply_live(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "recalled":
            self._emit_recalled(frame["conversation_id"], frame["msg_id"], frame.get("recalled_by"))
        else:
            self._emit_message(Message.from_dict(frame["message"]))

    def _emit_message(self, message: Message) -> None:
        seen = self.ledger.note(message)
        if seen is None:
            return
        self._emit(MessageReceived(message) if seen == "new" else MessageChanged(message))
        if seen == "changed" and message.recalled:
            # A recall learnt from a changed frame or from sync: Recalled too, for apps that only follow those.
            self._emit_recalled(message.conversation_id, message.msg_id, message.recalled_by)
        self._save_soon()
        if len(self.ledger.seen) > SEEN_LIMIT and not self._catching_up:
            self._start_catch_up()

    def _emit_recalled(self, conversation_id: int, msg_id: int, recalled_by: str | None) -> None:
        """Once per message: a 1.2 server says it twice (``changed`` and ``recalled``)."""
        if msg_id not in self._recalled:
            self._recalled.add(msg_id)
            self._emit(Recalled(conversation_id, msg_id, recalled_by))

    def _on_ack(self, frame: dict[str, Any]) -> None:
        cmid = frame.get("client_msg_id") or ""
        message = Message.from_dict(frame["message"])
        self._in_flight.discard(cmid)
        if self._outbox.pop(cmid, None) is not None:
            self._save_soon()
        waiter = self._waiters.pop(cmid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        self._live({"type": "message", "message": frame["message"]})

    def _on_error(self, frame: dict[str, Any]) -> None:
        error = ChatError.from_body(frame)
        cmid = frame.get("client_msg_id")
        entry = self._outbox.get(cmid or "")
        if entry is None:
            self._emit(ErrorReceived(error, frame.get("ref"), cmid))
            return
        self._in_flight.discard(entry.client_msg_id)
        if error.code in ("rate_limited", "unavailable"):
            entry.not_before = time.time() + (error.retry_after if error.retry_after is not None else 1.0)
            self._save_now()
            self._schedule_flush(entry.not_before - time.time())
            return
        self._fail(entry, error)

    def _fail(self, entry: OutboxEntry, error: ChatError) -> None:
        """The message will not be sent: out of the outbox, its waiter and a SendFailed event told why."""
        self._outbox.pop(entry.client_msg_id, None)
        self._upload_failures.pop(entry.client_msg_id, None)
        self._save_now()
        waiter = self._waiters.pop(entry.client_msg_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._emit(SendFailed(entry.client_msg_id, entry.to, error))

    def _on_pong(self, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        pong = self._pongs.get(ref) if ref else next(iter(self._pongs.values()), None)
        if pong is not None and not pong.done():
            pong.set_result(frame)

    # --- catch-up ---------------------------------------------------------------------------

    def _start_catch_up(self) -> None:
        """Catch up now (after ready, on resync); if one is running, once more after it."""
        self._catching_up = True
        if self._catch_up_task is not None and not self._catch_up_task.done():
            self._again = True
            return
        ws = self._ws
        if ws is not None:
            self._catch_up_task = asyncio.create_task(self._catch_up_loop(ws), name="chat-sdk-catch-up")

    async def _catch_up_loop(self, ws: ClientConnection) -> None:
        while True:
            self._again = False
            try:
                await self._catch_up_once()
            except Exception as exc:
                error = exc if isinstance(exc, ChatError) else ChatError("invalid_answer", f"sync: {exc!r}")
                self._emit(ErrorReceived(error))
                code = CLOSE_UNAUTHENTICATED if error.code == "not_authenticated" else None
                self._drop(ws, code, f"catch-up failed: {error}")
                return
            if not self._again:
                break
        # Nothing awaited from the last page to here: no live frame slips between the two.
        buffered, self._buffer = self._buffer, []
        self._catching_up = False
        for frame in buffered:
            self._apply_live(frame)
        self._emit(CaughtUp(self.ledger.cursor or 0))
        self._set_state("connected")
        await self._flush_outbox()

    async def _start_position(self) -> int:
        try:
            return await self.rest.sync_position()
        except ChatError as error:
            if error.code not in ("not_found", "method_not_allowed"):
                raise
        # A server before sync/position (1.2) numbers messages in commit order: continuing from the newest
        # msg_id the user can see misses nothing after it.
        page = await self.rest.conversations(limit=100)
        return max((c.last_message.msg_id for c in page.results if c.last_message is not None), default=0)

    async def _catch_up_once(self) -> None:
        if self.ledger.cursor is None:
            # A new client: from where the user's stream stands now, not the whole history.
            self.ledger.advance(await self._start_position())
            self._save_now()

        async def fetch(since: int) -> SyncPage:
            return await self.rest.sync(since, self.sync_limit)

        def emit_page(messages: list[Message]) -> None:
            for message in messages:
                self._emit_message(message)

        def save_cursor(cursor: int) -> None:
            self.ledger.advance(cursor)
            self._save_now()

        await catch_up(fetch, self.ledger.cursor or 0, emit_page, save_cursor, full_page_wait=self.full_page_wait)

    # --- the outbox -------------------------------------------------------------------------

    @property
    def outbox(self) -> list[OutboxEntry]:
        """Sends not yet acked, oldest first."""
        return list(self._outbox.values())

    def queue(
        self,
        to: int,
        content: str,
        reply_to: int | None = None,
        attachments: list[int] | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> OutboxEntry:
        """Put a message in the outbox (stored before this returns) and send it as soon as the client is
        connected; ``wait_ack(entry.client_msg_id)`` for its Message. ``send()`` is both in one call.

        ``attachments``: ids of files uploaded already; ``files``: paths to upload first (after them, in
        order). A file the size check refuses raises ``AttachmentTooLarge`` / ``InvalidAttachment`` here,
        and nothing is queued."""
        paths = [os.path.abspath(f) for f in files or ()]
        for path in paths:
            self.rest.size_check.check(file_size(Path(path)))
        entry = OutboxEntry(uuid.uuid4().hex, to, content, reply_to, list(attachments or []), time.time())
        entry.files = paths
        self._outbox[entry.client_msg_id] = entry
        waiter = self._waiters[entry.client_msg_id] = asyncio.get_running_loop().create_future()
        # Nobody may wait for it (queued, then the app quit): its refusal is an event too.
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._save_now()
        self._emit(SendQueued(entry))
        self._schedule_flush(0)
        return entry

    async def wait_ack(self, client_msg_id: str) -> Message:
        """The acked Message of an outbox entry; ChatError if the server refused it."""
        code, reason = self._last_close
        if self.state == "disconnected" and code == CLOSE_UNAUTHENTICATED:
            # Kept in the store's outbox: a client with a new token sends it.
            raise ChatError("not_authenticated", reason or "the server closed the socket with 4401")
        waiter = self._waiters.get(client_msg_id)
        if waiter is None:
            if client_msg_id not in self._outbox:
                raise ChatError(NOT_CONNECTED, f"{client_msg_id} is not waiting for an ack")
            waiter = self._waiters[client_msg_id] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiter)

    async def send(
        self,
        to: int,
        content: str,
        reply_to: int | None = None,
        attachments: list[int] | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> Message:
        """Send over the socket; the Message once acked. One ``client_msg_id`` for the message's whole life:
        re-sent after every catch-up until acked or refused, after a rate_limited/unavailable answer once its
        retry_after passed. Other refusals raise ChatError. ``files`` are uploaded first (``UploadProgress``
        events; a refused upload raises its ``UploadError``); with files or attachments, ``content`` may be
        "". A file over the limit the server publishes raises ``AttachmentTooLarge`` here when connected
        (offline, the message is queued and its upload refuses it)."""
        if files and self.state == "connected":
            # Offline, queueing must not wait for a request: the upload checks again before it starts.
            await self.rest.learn_upload_limit()
        entry = self.queue(to, content, reply_to, attachments, files)
        return await self.wait_ack(entry.client_msg_id)

    def cancel(self, client_msg_id: str) -> bool:
        """Give up a queued message while its files are still uploading (or waiting to): the upload stops,
        its waiter raises ``UploadCancelled``, and nothing is sent. False once the message went out (or is
        unknown): recall it instead."""
        entry = self._outbox.get(client_msg_id)
        if entry is None or not entry.files:
            return False
        upload = self._uploads.pop(client_msg_id, None)
        if upload is not None:
            upload.cancel()
        self._fail(entry, UploadCancelled("the message was cancelled while its files were uploading"))
        return True

    def _start_uploads(self, entry: OutboxEntry) -> None:
        cmid = entry.client_msg_id
        if cmid in self._uploads:
            return
        task = asyncio.create_task(self._upload_files(entry), name=f"chat-sdk-upload-{cmid}")
        self._uploads[cmid] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._uploads.get(cmid) is done:
                del self._uploads[cmid]

        task.add_done_callback(forget)

    async def _upload_files(self, entry: OutboxEntry) -> None:
        """Upload an entry's files one by one, each id kept (and stored) as soon as it is known, then send."""
        cmid = entry.client_msg_id
        try:
            while entry.files:
                path = entry.files[0]

                def progress(sent: int, total: int, path: str = path) -> None:
                    self._emit(UploadProgress(cmid, path, sent, total))

                try:
                    attachment = await self.rest.upload(path, progress)
                except OSError as exc:  # the file went away or became unreadable while queued
                    raise InvalidAttachment(f"{path}: {exc.strerror or exc}") from exc
                entry.files.pop(0)
                entry.attachments.append(attachment.attachment_id)
                self._save_now()
        except ChatError as error:
            if not error.retryable:
                self._fail(entry, error)
                return
            failures = self._upload_failures.get(cmid, 0)
            if error.code != "rate_limited":
                failures = self._upload_failures[cmid] = failures + 1
                if failures >= MAX_UPLOAD_FAILURES:
                    self._fail(entry, error)
                    return
            wait = error.retry_after
            if wait is None:
                wait = backoff(max(failures - 1, 0), self.min_reconnect_delay, self.max_reconnect_delay, self._rng)
            entry.not_before = time.time() + wait
            self._save_now()
            self._schedule_flush(wait)
            return
        self._upload_failures.pop(cmid, None)
        self._schedule_flush(0)

    def _schedule_flush(self, delay: float) -> None:
        """A flush after ``delay`` seconds, unless one is due sooner (a flush reschedules what is not due)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(0.0, delay)
        if self._flush_timer is not None and not self._flush_timer.cancelled():
            if self._flush_timer.when() <= due and self._flush_timer.when() >= loop.time():
                return
            self._flush_timer.cancel()
        self._flush_timer = loop.call_at(due, self._flush_in_task)

    def _flush_in_task(self) -> None:
        task = asyncio.ensure_future(self._flush_outbox())
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)

    async def _flush_outbox(self) -> None:
        if self.state != "connected" or self._catching_up:
            return
        async with self._flush_lock:
            now, next_due = time.time(), None
            for entry in list(self._outbox.values()):
                if entry.client_msg_id in self._in_flight or entry.client_msg_id not in self._outbox:
                    continue
                if entry.not_before > now:
                    next_due = min(next_due or entry.not_before, entry.not_before)
                    continue
                if entry.files:
                    self._start_uploads(entry)  # it flushes again once they are done
                    continue
                self._in_flight.add(entry.client_msg_id)
                if not await self._send_frame(entry.frame()):
                    self._in_flight.discard(entry.client_msg_id)
                    return
            if next_due is not None:
                self._schedule_flush(next_due - now)

    def _fail_waiters(self, error: ChatError) -> None:
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_exception(error)

    # --- persistence -----------------------------------------------------------------------

    def _save_now(self) -> None:
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        self.store.save(Saved(self.ledger.cursor, dict(self.ledger.seen), list(self._outbox.values())))

    def _save_soon(self) -> None:
        if self._save_timer is None:
            self._save_timer = asyncio.get_running_loop().call_later(SAVE_DELAY, self._save_now)

    # --- socket calls -----------------------------------------------------------------------

    async def mark_read(self, conversation_id: int, up_to: int | None = None) -> None:
        """Mark read up to ``up_to`` (None: everything): on the socket when connected, else over REST."""
        if self.state == "connected":
            frame: dict[str, Any] = {"type": "read", "conversation_id": conversation_id, "ref": self._ref("read")}
            if up_to is not None:
                frame["up_to"] = up_to
            if await self._send_frame(frame):
                return
        await self.rest.mark_read(conversation_id, up_to)

    async def typing(self, conversation_id: int) -> bool:
        """Tell the peer you are typing: at most one frame per conversation every ``typing_interval`` (3 s);
        False when nothing was sent (too soon, or not connected)."""
        now = time.monotonic()
        if self.state != "connected" or now - self._typing_sent.get(conversation_id, -1e9) < self.typing_interval:
            return False
        frame = {"type": "typing", "conversation_id": conversation_id, "ref": self._ref("typing")}
        if not await self._send_frame(frame):
            return False
        self._typing_sent[conversation_id] = now
        return True

    async def watch(self, user_ids: list[int]) -> None:
        """Follow these users' presence and profile (replaces the list; [] clears it); kept across reconnects."""
        self._watching = list(user_ids)
        if self._ws is not None:
            await self._send_frame({"type": "watch", "user_ids": self._watching, "ref": self._ref("watch")})

    # --- REST calls --------------------------------------------------------------------------

    async def me(self) -> Profile:
        return await self.rest.me()

    async def user(self, user_id: int) -> Profile:
        return await self.rest.user(user_id)

    async def users(self, q: str) -> list[Profile]:
        """Up to 20 active users whose username or nickname starts with ``q``."""
        return await self.rest.users(q)

    async def update_me(self, *, nickname: str | None = None, avatar_url: str | None = None) -> Profile:
        """Change your nickname and/or avatar_url (``""`` clears it); your Profile as changed. Users watching
        you get a ``profile`` frame."""
        return await self.rest.update_me(nickname=nickname, avatar_url=avatar_url)

    async def blocks(self) -> list[Profile]:
        """The users you block (1.2)."""
        return await self.rest.blocks()

    async def block(self, user_id: int) -> None:
        """Block a user (1.2, idempotent): no send either way, no typing, presence or profile frames between
        you; the history stays readable."""
        await self.rest.block(user_id)

    async def unblock(self, user_id: int) -> None:
        await self.rest.unblock(user_id)

    async def conversation(self, conversation_id: int) -> Conversation:
        return await self.rest.conversation(conversation_id)

    async def conversation_with(self, user_id: int) -> Conversation:
        """The conversation with that user; ChatError ``not_found`` before their first message."""
        return await self.rest.conversation_with(user_id)

    async def conversations(
        self, limit: int | None = None, before: int | None = None, archived: bool | None = None
    ) -> ConversationPage:
        return await self.rest.conversations(limit, before, archived)

    async def update_conversation(
        self,
        conversation_id: int,
        *,
        muted: bool | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> Conversation:
        """Change your own settings of a conversation (1.2); each left None stays. At most 5 pinned: a sixth is
        a ``validation_error``."""
        return await self.rest.update_conversation(conversation_id, muted=muted, pinned=pinned, archived=archived)

    async def unread(self) -> Unread:
        return await self.rest.unread()

    async def offline(self) -> list[OfflineGroup]:
        """What reached you while no socket of yours was connected, by sender (a client that catches up with
        sync does not need it)."""
        return await self.rest.offline()

    async def ack_offline(self, sender_id: int, up_to: int) -> None:
        """Clear one sender's offline messages up to ``up_to`` (a msg_id)."""
        await self.rest.ack_offline(sender_id, up_to)

    async def push_key(self) -> str:
        """The server's VAPID public key (base64url): the ``applicationServerKey`` of a browser's subscribe."""
        return await self.rest.push_key()

    async def subscribe_push(self, endpoint: str, p256dh: str, auth: str) -> None:
        """Have new messages pushed (Web Push, 1.2) to this subscription while no socket of yours is
        connected: a browser's ``PushSubscription`` (``endpoint`` and its ``keys``)."""
        await self.rest.subscribe_push(endpoint, p256dh, auth)

    async def unsubscribe_push(self, endpoint: str) -> None:
        await self.rest.unsubscribe_push(endpoint)

    async def history(
        self, conversation_id: int, before: int | None = None, after: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        return await self.rest.history(conversation_id, before, after, limit)

    async def edit(self, msg_id: int, content: str) -> Message:
        return await self.rest.edit(msg_id, content)

    async def recall(self, msg_id: int) -> None:
        await self.rest.recall(msg_id)

    async def react(self, msg_id: int, emoji: str | None) -> Message:
        """Set your reaction (None removes it)."""
        return await self.rest.react(msg_id, emoji)

    async def search(
        self, q: str, conversation_id: int | None = None, before: int | None = None, limit: int | None = None
    ) -> SearchPage:
        return await self.rest.search(q, conversation_id, before, limit)

    # --- attachments ---------------------------------------------------------------------------

    async def attachment_limits(self) -> AttachmentLimits:
        """The server's upload limits (an extension of 1.2), asked once and kept."""
        return await self.rest.attachment_limits()

    async def upload(
        self, path: str | os.PathLike[str], on_progress: ProgressCallback | None = None, *, name: str | None = None
    ) -> Attachment:
        """Upload one file (``Rest.upload``); send its ``attachment_id`` in ``send(..., attachments=[…])``."""
        return await self.rest.upload(path, on_progress, name=name)

    def start_upload(
        self, path: str | os.PathLike[str], on_progress: ProgressCallback | None = None, *, name: str | None = None
    ) -> Upload:
        """``upload`` with a handle: ``await handle`` for the Attachment, ``handle.cancel()`` to abandon it."""
        return self.rest.start_upload(path, on_progress, name=name)

    def attachment_url(self, attachment: Attachment | int, *, thumbnail: bool = False) -> str:
        return self.rest.attachment_url(attachment, thumbnail=thumbnail)

    async def download(self, attachment: Attachment | int, *, thumbnail: bool = False) -> bytes:
        return await self.rest.download(attachment, thumbnail=thumbnail)

    async def download_to(
        self,
        attachment: Attachment | int,
        path: str | os.PathLike[str],
        *,
        thumbnail: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        return await self.rest.download_to(attachment, path, thumbnail=thumbnail, on_progress=on_progress)
