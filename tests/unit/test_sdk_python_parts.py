"""The Python SDK's parts without the real server (sdk/python): backoff, the ledger and catch-up rules, the
outbox, the state machine against an in-process WebSocket server and a stub HTTP layer (httpx.MockTransport),
the stores and the list helpers. tests/test_sdk_python.py runs the same SDK against the real server."""

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_sdk import (
    CaughtUp,
    ChatClient,
    ChatError,
    ConversationList,
    JsonFileStore,
    MemoryStore,
    Message,
    MessageChanged,
    MessageList,
    MessageReceived,
    Recalled,
    Rest,
    StateChanged,
    SyncPage,
    UnreadChanged,
    backoff,
)
from chat_sdk.ledger import Ledger, catch_up
from chat_sdk.models import Conversation, ConversationPage, OutboxEntry, Profile
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.unit


def msg(msg_id: int, rev: int | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "msg_id": msg_id,
        "conversation_id": 45,
        "sender_id": 7,
        "recipient_id": 9,
        "content": f"m{msg_id}",
        "client_msg_id": None,
        "created_at": "2026-12-06T00:00:00Z",
        "status": "normal",
        **({"rev": rev} if rev is not None else {}),
        **fields,
    }


LIMITS_PATH = "/api/v1/attachments/limits"


def publishing_no_limits(
    handler: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    """``handler`` as a server that does not publish its upload limits (``GET attachments/limits``: 404)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == LIMITS_PATH:
            return httpx.Response(404, json={"code": "not_found", "detail": "Not found."})
        return handler(request)

    return answer


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_is_bounded_jittered_and_floored():
    rng = random.Random(7)
    for attempt in range(60):
        delays = [backoff(attempt, 0.5, 20.0, rng) for _ in range(50)]
        assert all(0.5 <= d <= 20.0 for d in delays)
        assert all(d <= 0.5 + 0.5 * 2**attempt for d in delays)
        assert len(set(delays)) > 40, "jittered: not one fixed value"
    # Late attempts reach the cap; the very first stays near the floor.
    assert max(backoff(30, 0.5, 20.0, rng) for _ in range(200)) == 20.0
    assert max(backoff(0, 0.5, 20.0, rng) for _ in range(200)) <= 1.0
    # Seeded: the same sequence twice.
    assert [backoff(n, rng=random.Random(1)) for n in range(5)] == [backoff(n, rng=random.Random(1)) for n in range(5)]


# --- the ledger and the catch-up rules ----------------------------------------------------------------


def test_the_ledger_emits_each_msg_id_and_rev_once():
    ledger = Ledger(cursor=10)
    m = Message.from_dict(msg(11))
    assert m.rev == 11, "no rev from the server: rev is the msg_id"
    assert ledger.note(m) == "new"
    assert ledger.note(m) is None
    assert ledger.note(Message.from_dict(msg(11, rev=15))) == "changed"
    assert ledger.note(Message.from_dict(msg(11, rev=13))) is None, "an older state never replaces a newer"
    # At or below the cursor: a sync page emitted it already.
    assert ledger.note(Message.from_dict(msg(9))) is None
    # A message emitted by an earlier page, changed since: a change, not a new message.
    assert ledger.note(Message.from_dict(msg(9, rev=20))) == "changed"
    ledger.advance(15)
    assert ledger.seen == {9: 20}, "only what lies beyond the cursor is remembered"


def test_a_stalled_full_page_is_kept_and_asked_again_from_the_same_since():
    pages = [
        SyncPage([Message.from_dict(msg(1)), Message.from_dict(msg(2))], True, 0),  # full, next_since == since
        SyncPage([Message.from_dict(msg(1)), Message.from_dict(msg(2))], True, 2),
        SyncPage([Message.from_dict(msg(3))], False, 3),
    ]
    asked: list[int] = []
    log: list[str] = []
    ledger = Ledger(cursor=0)
    emitted: list[int] = []

    async def fetch(since: int) -> SyncPage:
        asked.append(since)
        return pages[len(asked) - 1]

    def emit(messages: list[Message]) -> None:
        for m in messages:
            if ledger.note(m):
                emitted.append(m.msg_id)
        log.append(f"emit {[m.msg_id for m in messages]}")

    def save(cursor: int) -> None:
        ledger.advance(cursor)
        log.append(f"save {cursor}")

    async def sleep(seconds: float) -> None:
        log.append(f"sleep {seconds}")

    final = asyncio.run(catch_up(fetch, 0, emit, save, full_page_wait=1.0, sleep=sleep))
    assert final == 3
    assert asked == [0, 0, 2]
    assert emitted == [1, 2, 3], "the stalled page's messages once, none lost"
    # The cursor never moves on a stalled page, and is saved only after its page was emitted.
    assert log == ["emit [1, 2]", "sleep 1.0", "emit [1, 2]", "save 2", "emit [3]", "save 3"]


# --- a fake server: WebSocket in process, REST through httpx.MockTransport ----------------------------


class FakeServer:
    """Plays /ws/chat/ (ready, pongs, whatever a test pushes) and the REST endpoints the client calls."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}  # msg_id -> Message, as sync returns them (by rev)
        self.position: int | None = 0  # None: a server without sync/position
        self.conversations: list[dict[str, Any]] = []
        self.limits: dict[str, Any] | None = None  # GET attachments/limits answers these (None: 404)
        self.sync_calls: list[int] = []
        self.sync_delay = 0.0
        self.connections: list[ServerConnection] = []
        self.frames: list[dict[str, Any]] = []
        self.answer_pings = True
        self.on_connect: Callable[[ServerConnection], Awaitable[None]] | None = None
        self.on_send: Callable[[ServerConnection, dict[str, Any]], Awaitable[None]] | None = None

    async def __aenter__(self) -> "FakeServer":
        self.server = await serve(self.handler, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        if self.on_connect is not None:
            await self.on_connect(ws)
        else:
            await ws.send(json.dumps({"type": "ready", "user_id": 9}))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                if frame["type"] == "ping" and self.answer_pings:
                    await ws.send(json.dumps({"type": "pong", "ref": frame.get("ref")}))
                elif frame["type"] == "send" and self.on_send is not None:
                    await self.on_send(ws, frame)
        except ConnectionClosed:
            pass

    async def push(self, frame: dict[str, Any]) -> None:
        await self.connections[-1].send(json.dumps(frame))

    async def rest(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1/")
        if path == "sync/position" and self.position is not None:
            return httpx.Response(200, json={"position": self.position})
        if path == "conversations":
            return httpx.Response(200, json={"results": self.conversations, "next_before": None})
        if path == "attachments/limits" and self.limits is not None:
            return httpx.Response(200, json=self.limits)
        if path == "sync":
            since = int(request.url.params["since"])
            self.sync_calls.append(since)
            await asyncio.sleep(self.sync_delay)
            page = sorted((m for m in self.messages.values() if m.get("rev", m["msg_id"]) > since), key=_rev)
            next_since = _rev(page[-1]) if page else since
            return httpx.Response(200, json={"results": page, "has_more": False, "next_since": next_since})
        return httpx.Response(404, json={"code": "not_found", "detail": path})

    def client(self, **kwargs: Any) -> ChatClient:
        kwargs.setdefault("store", MemoryStore())
        return ChatClient(self.base_url, "tok", transport=httpx.MockTransport(self.rest), **kwargs)


def _rev(m: dict[str, Any]) -> int:
    return m.get("rev", m["msg_id"])


def run(scenario: Callable[[FakeServer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with FakeServer() as server:
            await asyncio.wait_for(scenario(server), 20)

    asyncio.run(main())


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Poll a condition on the client's or the fake server's state (neither has an event for each)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def collect(client: ChatClient) -> list[Any]:
    events: list[Any] = []
    client.on("*", events.append)
    return events


def test_connected_only_after_ready_and_a_finished_catch_up():
    async def scenario(server: FakeServer) -> None:
        server.position = 100
        server.sync_delay = 0.3
        client = server.client()
        events = collect(client)
        await client.connect()
        await until(lambda: server.sync_calls)
        assert client.state == "connecting", "ready came, the catch-up has not finished"
        await client.ready(5)
        assert server.sync_calls == [100], "a new client starts at sync/position"
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["StateChanged", "CaughtUp", "StateChanged"]
        assert [e.state for e in events if isinstance(e, StateChanged)] == ["connecting", "connected"]
        await client.aclose()
        assert client.state == "disconnected"

    run(scenario)


def test_a_message_pushed_during_catch_up_and_also_synced_surfaces_once_in_order():
    async def scenario(server: FakeServer) -> None:
        server.messages = {5: msg(5), 6: msg(6)}
        server.sync_delay = 0.2

        async def on_connect(ws: ServerConnection) -> None:
            await ws.send(json.dumps({"type": "ready", "user_id": 9}))
            await ws.send(json.dumps({"type": "message", "message": msg(6)}))
            await ws.send(json.dumps({"type": "message", "message": msg(7)}))

        server.on_connect = on_connect
        client = server.client(store=MemoryStore())
        client.ledger.advance(4)
        events = collect(client)
        await client.connect()
        await client.ready(5)
        received = [e.message.msg_id for e in events if isinstance(e, MessageReceived)]
        assert received == [5, 6, 7]
        # Pushed again later (a duplicate push): nothing.
        await server.push({"type": "message", "message": msg(7)})
        await server.push({"type": "unread", "conversation_id": 45, "unread": 3, "total": 3})
        await until(lambda: any(isinstance(e, UnreadChanged) for e in events))
        assert [e.message.msg_id for e in events if isinstance(e, MessageReceived)] == [5, 6, 7]
        await client.aclose()

    run(scenario)


def test_resync_runs_a_catch_up_on_the_open_socket():
    async def scenario(server: FakeServer) -> None:
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        server.messages[3] = msg(3)  # stored, its push lost
        await server.push({"type": "resync"})
        await until(lambda: any(isinstance(e, MessageReceived) for e in events))
        assert len(server.connections) == 1
        assert len([e for e in events if isinstance(e, CaughtUp)]) == 2
        assert client.state == "connected"
        await client.aclose()

    run(scenario)


def test_a_4401_close_disconnects_and_never_retries():
    async def scenario(server: FakeServer) -> None:
        async def on_connect(ws: ServerConnection) -> None:
            await ws.close(4401, "not authenticated")

        server.on_connect = on_connect
        client = server.client()
        events = collect(client)
        await client.connect()
        with pytest.raises(ChatError) as raised:
            await client.ready(5)
        assert raised.value.code == "not_authenticated"
        await asyncio.sleep(0.8)
        assert len(server.connections) == 1
        assert events[-1] == StateChanged("disconnected", 4401, "not authenticated")
        await client.aclose()

    run(scenario)


def test_a_missing_pong_reconnects_and_1012_waits_only_briefly():
    async def scenario(server: FakeServer) -> None:
        server.answer_pings = False
        delays: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            delays.append(seconds)

        client = server.client(ping_interval=0.05, pong_timeout=0.1)
        client.sleep = fake_sleep
        events = collect(client)
        await client.connect()
        await until(lambda: len(server.connections) >= 2)
        lost = [e for e in events if isinstance(e, StateChanged) and e.state == "connecting" and e.reason]
        assert lost[0].reason.startswith("no pong")
        server.answer_pings = True
        await client.ready(5)
        assert client.attempt == 0, "reset on ready"
        # A server restart (1012): a short random delay, not the backoff.
        await server.connections[-1].close(1012, "restarting")
        await until(lambda: len(server.connections) >= 3)
        assert 0 < delays[-1] <= 1.0
        assert client.attempt == 0
        await client.aclose()

    run(scenario)


def test_reconnect_delays_follow_the_seeded_backoff_on_a_fake_clock():
    async def scenario(server: FakeServer) -> None:
        delays: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 12:
                await asyncio.Event().wait()  # park the loop: the test has seen enough

        # A port nothing listens on: every attempt fails at once.
        dead = FakeServer()
        async with dead:
            port = dead.port
        client = ChatClient(f"http://127.0.0.1:{port}", "tok", rng=random.Random(42))
        client.sleep = fake_sleep
        await client.connect()
        await until(lambda: len(delays) == 12)
        expected_rng = random.Random(42)
        assert delays == [backoff(n, 0.5, 20.0, expected_rng) for n in range(12)]
        assert max(delays) <= 20.0 and min(delays) >= 0.5
        assert client.state == "connecting"
        await client.aclose()

    run(scenario)


def test_one_client_msg_id_for_life_retried_after_retry_after_and_after_a_dropped_socket():
    async def scenario(server: FakeServer) -> None:
        answers = iter(["rate_limited", "drop", "ack"])

        async def on_send(ws: ServerConnection, frame: dict[str, Any]) -> None:
            answer = next(answers)
            if answer == "rate_limited":
                error = {"type": "error", "code": "rate_limited", "detail": "slow down", "retry_after": 0.1}
                await ws.send(json.dumps({**error, "client_msg_id": frame["client_msg_id"], "ref": frame["ref"]}))
            elif answer == "drop":
                await ws.close(1011, "crash before the ack")
            else:
                message = msg(50, client_msg_id=frame["client_msg_id"], sender_id=9, recipient_id=7)
                await ws.send(json.dumps({"type": "ack", "client_msg_id": frame["client_msg_id"], "message": message}))

        server.on_send = on_send
        client = server.client(min_reconnect_delay=0.01, max_reconnect_delay=0.05)
        events = collect(client)
        await client.connect()
        await client.ready(5)
        message = await client.send(7, "hello")
        sends = [f for f in server.frames if f["type"] == "send"]
        assert len(sends) == 3
        assert len({f["client_msg_id"] for f in sends}) == 1, "never a new id"
        assert message.msg_id == 50 and message.client_msg_id == sends[0]["client_msg_id"]
        assert client.outbox == []
        assert [e.message.msg_id for e in events if isinstance(e, MessageReceived)] == [50]
        await client.aclose()

    run(scenario)


def test_a_refused_send_fails_with_its_error_and_leaves_the_outbox():
    async def scenario(server: FakeServer) -> None:
        async def on_send(ws: ServerConnection, frame: dict[str, Any]) -> None:
            error = {"type": "error", "code": "validation_error", "detail": "The message is empty."}
            errors = {"content": ["The message is empty."]}
            await ws.send(json.dumps({**error, "errors": errors, "client_msg_id": frame["client_msg_id"]}))

        server.on_send = on_send
        client = server.client()
        await client.connect()
        await client.ready(5)
        messages = MessageList(45)
        with pytest.raises(ChatError) as raised:
            await messages.send(client, 7, " ")
        assert raised.value.code == "validation_error"
        assert raised.value.errors == {"content": ["The message is empty."]}
        assert client.outbox == []
        assert [e.status for e in messages.items()] == ["failed"]
        await client.aclose()

    run(scenario)


def test_a_restart_with_a_stored_cursor_and_outbox_loses_and_repeats_nothing(tmp_path: Path):
    async def scenario(server: FakeServer) -> None:
        store = JsonFileStore(tmp_path / "state.json")
        server.messages = {5: msg(5)}
        first = server.client(store=store)
        seen_first = collect(first)
        await first.connect()
        await first.ready(5)
        await server.push({"type": "message", "message": msg(6)})  # live, beyond the cursor
        await until(lambda: len([e for e in seen_first if isinstance(e, MessageReceived)]) == 2)
        await first.aclose()
        # Queued while offline, then the app quits before connecting.
        offline = server.client(store=store)
        entry = offline.queue(7, "written offline")
        await offline.aclose()
        assert [e.client_msg_id for e in store.load().outbox] == [entry.client_msg_id]

        server.messages.update({6: msg(6), 7: msg(7)})

        async def on_send(ws: ServerConnection, frame: dict[str, Any]) -> None:
            message = msg(8, client_msg_id=frame["client_msg_id"])
            await ws.send(json.dumps({"type": "ack", "client_msg_id": frame["client_msg_id"], "message": message}))

        server.on_send = on_send
        second = server.client(store=store)
        seen_second = collect(second)
        await second.connect()
        await second.ready(5)
        await until(lambda: any(isinstance(e, MessageReceived) and e.message.msg_id == 8 for e in seen_second))
        assert [e.message.msg_id for e in seen_first if isinstance(e, MessageReceived)] == [5, 6]
        assert [e.message.msg_id for e in seen_second if isinstance(e, MessageReceived)] == [7, 8]
        assert [f["client_msg_id"] for f in server.frames if f["type"] == "send"] == [entry.client_msg_id]
        await second.aclose()
        assert store.load().outbox == []
        assert not list(tmp_path.glob("*.tmp")), "atomic writes leave no temporary file"

    run(scenario)


def test_a_change_made_while_away_comes_back_by_rev_and_replaces_the_copy():
    async def scenario(server: FakeServer) -> None:
        store = MemoryStore()
        server.messages = {5: msg(5)}
        first = server.client(store=store)
        await first.connect()
        await first.ready(5)
        await first.aclose()
        server.messages[5] = msg(5, rev=12, status="recalled", content="", recalled_by="sender")
        second = server.client(store=store)
        events = collect(second)
        await second.connect()
        await second.ready(5)
        changed = [e for e in events if isinstance(e, MessageChanged)]
        assert [(e.message.msg_id, e.message.rev, e.message.status) for e in changed] == [(5, 12, "recalled")]
        assert not [e for e in events if isinstance(e, MessageReceived)]
        await second.aclose()

    run(scenario)


def test_typing_is_throttled_and_watch_is_repeated_after_a_reconnect():
    async def scenario(server: FakeServer) -> None:
        client = server.client(min_reconnect_delay=0.01, max_reconnect_delay=0.02)
        await client.connect()
        await client.ready(5)
        assert await client.typing(45) is True
        assert await client.typing(45) is False, "at most one frame per 3 s"
        assert await client.typing(46) is True
        await client.watch([7, 8])
        await server.connections[-1].close(1001, "going away")
        await until(lambda: len([f for f in server.frames if f["type"] == "watch"]) == 2)
        assert [f["type"] for f in server.frames if f["type"] != "ping"].count("typing") == 2
        await client.aclose()

    run(scenario)


# --- REST ----------------------------------------------------------------------------------------


def test_rest_errors_carry_code_detail_errors_and_retry_after(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages/5"):
            return httpx.Response(405, json={"code": "method_not_allowed", "detail": 'Method "PATCH" not allowed.'})
        return httpx.Response(429, json={"code": "rate_limited", "detail": "later"}, headers={"Retry-After": "7"})

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(handler))
        with pytest.raises(ChatError) as raised:
            await rest.conversations()
        assert (raised.value.code, raised.value.retry_after, raised.value.status) == ("rate_limited", 7.0, 429)
        with pytest.raises(ChatError) as raised:
            await rest.edit(5, "new")
        assert raised.value.code == "method_not_allowed"
        await rest.aclose()

    asyncio.run(scenario())


def test_upload_streams_a_multipart_body_and_reports_progress(tmp_path: Path):
    path = tmp_path / 'a "quoted" name.bin'
    path.write_bytes(b"x" * 200_000)
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        seen["body"], seen["type"] = body, request.headers["content-type"]
        seen["length"] = int(request.headers["content-length"])
        return httpx.Response(201, json={"attachment_id": 55, "name": "a _quoted_ name.bin", "size": 200_000,
                                         "content_type": "application/octet-stream", "kind": "file",
                                         "url": "/api/v1/attachments/55", "width": None, "height": None,
                                         "thumbnail_url": None})  # fmt: skip

    progress: list[tuple[int, int]] = []

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(publishing_no_limits(handler)))
        attachment = await rest.upload(path, lambda sent, total: progress.append((sent, total)))
        assert attachment.attachment_id == 55 and attachment.kind == "file"
        await rest.aclose()

    asyncio.run(scenario())
    assert seen["type"].startswith("multipart/form-data; boundary=")
    assert len(seen["body"]) == seen["length"]
    assert b'name="file"; filename="a _quoted_ name.bin"' in seen["body"]
    assert progress[-1] == (seen["length"], seen["length"])
    assert [s for s, _ in progress] == sorted(s for s, _ in progress) and len(progress) > 3


def test_the_rest_calls_of_blocking_settings_profile_offline_and_web_push():
    calls: list[tuple[str, str, Any]] = []
    peer = {"user_id": 9, "username": "bob", "nickname": "Bob", "avatar_url": "", "online": False, "blocked": True}
    conversation = {"conversation_id": 4, "peer": peer, "last_message": msg(5), "unread": 0, "muted": True}
    answers: dict[str, Any] = {
        "GET blocks": {"results": [peer]},
        "PATCH conversations/4": conversation,
        "GET conversations/with/9": conversation,
        "PATCH me": {"user_id": 7, "username": "alice", "nickname": "Al", "avatar_url": "", "online": True},
        "GET offline": {"results": [{"sender": peer, "messages": [msg(5), msg(6)]}]},
        "GET push/key": {"public_key": "BEl6"},
        "GET unread": {"total": 3, "conversations": {"4": 3}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1/")
        calls.append((request.method, path, json.loads(request.content) if request.content else None))
        answer = answers.get(f"{request.method} {path}")
        return httpx.Response(204) if answer is None else httpx.Response(200, json=answer)

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(handler))
        await rest.block(9)
        blocked = await rest.blocks()
        assert [(p.user_id, p.blocked) for p in blocked] == [(9, True)]
        await rest.unblock(9)
        changed = await rest.update_conversation(4, muted=True)
        assert (changed.conversation_id, changed.muted, changed.pinned) == (4, True, False)
        await rest.update_conversation(4, pinned=False, archived=True)
        assert (await rest.conversation_with(9)).conversation_id == 4
        assert (await rest.update_me(nickname="Al")).nickname == "Al"
        await rest.update_me(avatar_url="")
        (group,) = await rest.offline()
        assert group.sender.user_id == 9 and [m.msg_id for m in group.messages] == [5, 6]
        await rest.ack_offline(9, 6)
        assert await rest.push_key() == "BEl6"
        await rest.subscribe_push("https://push.example/1", "p", "a")
        await rest.unsubscribe_push("https://push.example/1")
        unread = await rest.unread()
        assert (unread.total, unread.conversations) == (3, {4: 3})
        await rest.aclose()

    asyncio.run(scenario())
    assert calls == [
        ("PUT", "users/9/block", None),
        ("GET", "blocks", None),
        ("DELETE", "users/9/block", None),
        ("PATCH", "conversations/4", {"muted": True}),
        ("PATCH", "conversations/4", {"pinned": False, "archived": True}),
        ("GET", "conversations/with/9", None),
        ("PATCH", "me", {"nickname": "Al"}),
        ("PATCH", "me", {"avatar_url": ""}),
        ("GET", "offline", None),
        ("POST", "offline/ack", {"sender_id": 9, "up_to": 6}),
        ("GET", "push/key", None),
        ("POST", "push/subscriptions", {"endpoint": "https://push.example/1", "keys": {"p256dh": "p", "auth": "a"}}),
        ("DELETE", "push/subscriptions", {"endpoint": "https://push.example/1"}),
        ("GET", "unread", None),
    ]


# --- list helpers ------------------------------------------------------------------------------------


def test_message_list_keeps_one_entry_per_msg_id_and_settles_local_echoes():
    messages = MessageList(45)
    messages.load([Message.from_dict(msg(2)), Message.from_dict(msg(1))])
    echo = messages.add_pending(OutboxEntry("c-1", 7, "hi"))
    assert [e.status for e in messages.items()] == ["sent", "sent", "pending"]
    assert echo.content == "hi"
    # The push of our own message settles the echo (even before the ack).
    assert messages.apply(MessageReceived(Message.from_dict(msg(3, client_msg_id="c-1"))))
    assert [(e.msg_id, e.status) for e in messages.items()] == [(1, "sent"), (2, "sent"), (3, "sent")]
    # A changed copy replaces only with a larger rev; another conversation is ignored.
    assert messages.apply(MessageChanged(Message.from_dict(msg(2, rev=9, content="edited"))))
    assert not messages.apply(MessageChanged(Message.from_dict(msg(2, rev=8, content="older"))))
    assert not messages.apply(MessageReceived(Message.from_dict(msg(4, conversation_id=46))))
    assert messages.apply(Recalled(45, 1, "sender"))
    assert [(e.msg_id, e.content) for e in messages.items()] == [(1, ""), (2, "edited"), (3, "m3")]
    assert len(messages) == 3


def test_conversation_list_follows_messages_unread_and_recalls():
    peer = Profile(user_id=7, username="alice")
    conversations = ConversationList()
    older = Conversation(44, Profile(user_id=8, username="carol"), Message.from_dict(msg(1, conversation_id=44)))
    conversations.load(ConversationPage([Conversation(45, peer, Message.from_dict(msg(2)), unread=0), older], None))
    assert [c.conversation_id for c in conversations.ordered()] == [45, 44]
    conversations.apply(MessageReceived(Message.from_dict(msg(5, conversation_id=44))))
    conversations.apply(UnreadChanged(44, 1, 1))
    assert [c.conversation_id for c in conversations.ordered()] == [44, 45]
    assert conversations.get(44).unread == 1 and conversations.total_unread == 1
    conversations.apply(Recalled(44, 5, "sender"))
    assert conversations.get(44).last_message.recalled
    conversations.apply(MessageReceived(Message.from_dict(msg(9, conversation_id=99))))
    assert conversations.unknown == {99}


def test_a_raising_handler_or_an_unreadable_frame_does_not_stop_the_read_loop():
    async def scenario(server: FakeServer) -> None:
        client = server.client()
        events = collect(client)

        def broken(event: Any) -> None:
            raise RuntimeError("an application bug")

        client.on("message", broken)
        await client.connect()
        await client.ready(5)
        await server.push({"type": "message", "message": msg(5)})
        await server.push({"type": "unread", "conversation_id": 45})  # no counts: unreadable
        await server.push({"type": "message", "message": msg(6)})
        await until(lambda: received_ids(events) == [5, 6])
        assert client.state == "connected" and len(server.connections) == 1
        await client.aclose()

    run(scenario)


def received_ids(events: list[Any]) -> list[int]:
    return [e.message.msg_id for e in events if isinstance(e, MessageReceived)]


def test_queued_and_refused_sends_are_events_and_a_recall_is_told_once():
    async def scenario(server: FakeServer) -> None:
        async def on_send(ws: ServerConnection, frame: dict[str, Any]) -> None:
            error = {"type": "error", "code": "forbidden", "detail": "blocked", "client_msg_id": frame["client_msg_id"]}
            await ws.send(json.dumps(error))

        server.on_send = on_send
        server.messages = {5: msg(5)}
        client = server.client()
        client.ledger.advance(4)
        messages = MessageList(45, peer_id=7)
        client.on("*", messages.apply)
        events = collect(client)
        await client.connect()
        await client.ready(5)
        entry = client.queue(7, "to a user who blocks me")
        assert [e.status for e in messages.items()] == ["sent", "pending"]
        with pytest.raises(ChatError):
            await client.wait_ack(entry.client_msg_id)
        assert [e.status for e in messages.items()] == ["sent", "failed"]
        failed = [e for e in events if type(e).__name__ == "SendFailed"]
        assert [(e.client_msg_id, e.to, e.error.code) for e in failed] == [(entry.client_msg_id, 7, "forbidden")]
        # A 1.2 server tells a recall twice (changed, then recalled): one Recalled event.
        recalled = msg(5, rev=9, status="recalled", content="", recalled_by="sender")
        await server.push({"type": "changed", "message": recalled})
        await server.push({"type": "recalled", "conversation_id": 45, "msg_id": 5, "recalled_by": "sender"})
        await server.push({"type": "unread", "conversation_id": 45, "unread": 0, "total": 0})
        await until(lambda: any(isinstance(e, UnreadChanged) for e in events))
        assert len([e for e in events if isinstance(e, Recalled)]) == 1
        assert [(e.msg_id, e.content) for e in messages.items()] == [(5, ""), (None, "to a user who blocks me")]
        await client.aclose()

    run(scenario)


def test_a_new_client_of_a_server_without_sync_position_starts_at_the_newest_message_it_can_see():
    async def scenario(server: FakeServer) -> None:
        server.position = None
        peer = {"user_id": 7, "username": "alice"}
        server.conversations = [{"conversation_id": 45, "peer": peer, "last_message": msg(30), "unread": 0}]
        server.messages = {30: msg(30), 31: msg(31)}
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        assert server.sync_calls == [30]
        assert received_ids(events) == [31]
        await client.aclose()

    run(scenario)


def test_a_garbled_first_frame_or_sync_answer_means_reconnect_not_a_dead_client():
    async def scenario(server: FakeServer) -> None:
        garbled = iter([True, False, False])

        async def on_connect(ws: ServerConnection) -> None:
            await ws.send("not json" if next(garbled) else json.dumps({"type": "ready", "user_id": 9}))

        server.on_connect = on_connect
        answers = iter([httpx.Response(200, text="<html>a proxy's error page</html>")])
        normal = server.rest

        async def rest(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/sync"):
                for answer in answers:
                    return answer
            return await normal(request)

        client = ChatClient(
            server.base_url,
            "tok",
            transport=httpx.MockTransport(rest),
            min_reconnect_delay=0.01,
            max_reconnect_delay=0.02,
        )
        events = collect(client)
        await client.connect()
        await client.ready(5)
        assert len(server.connections) == 3
        errors = [e.error.code for e in events if type(e).__name__ == "ErrorReceived"]
        assert errors == ["invalid_answer"]
        await client.aclose()

    run(scenario)


def test_many_live_messages_beyond_the_cursor_start_a_quiet_catch_up_that_moves_it(monkeypatch):
    monkeypatch.setattr("chat_sdk.client.SEEN_LIMIT", 3)

    async def scenario(server: FakeServer) -> None:
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        for msg_id in (11, 12, 13, 14):
            server.messages[msg_id] = msg(msg_id)
            await server.push({"type": "message", "message": msg(msg_id)})
        await until(lambda: len(server.sync_calls) == 2)
        await until(lambda: client.ledger.cursor == 14)
        assert client.ledger.seen == {}, "what the cursor passed needs no remembering"
        assert received_ids(events) == [11, 12, 13, 14]
        assert client.state == "connected" and len(server.connections) == 1
        await client.aclose()

    run(scenario)
