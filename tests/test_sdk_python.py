"""The Python SDK (sdk/python) against the real server: a real daphne, a real Celery worker for fan-out.

Faults are made the way they happen: the server closes the receiver's sockets
in the middle of a burst (through the channel layer, as a drain or a restart
does), a TCP relay swallows an ack and then cuts the socket, pushes are lost
(no fan-out worker) and a ``resync`` frame is pushed, a client is closed and
started again from its stored cursor and outbox. Each scenario runs on an
event loop of its own (``asyncio.run``); the test's database work happens
outside it.
"""

import asyncio
import contextlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_sdk import (
    Attachment,
    AttachmentTooLarge,
    CaughtUp,
    ChatClient,
    ChatError,
    InvalidAttachment,
    JsonFileStore,
    MemoryStore,
    MessageChanged,
    MessageList,
    MessageReceived,
    Presence,
    ProfileChanged,
    ReadReceipt,
    Rest,
    Saved,
    SendFailed,
    SendQueued,
    StateChanged,
    Typing,
    UnreadChanged,
    UnsupportedMediaType,
    UploadCancelled,
    UploadError,
    UploadProgress,
)
from chat_sdk.cli import main as cli

from chat_project.common import push
from messaging.models import MessageRecord

from .conftest import PASSWORD
from .unit.test_sdk_python_parts import LIMITS_PATH, FakeServer, publishing_no_limits
from .unit.test_sdk_python_parts import msg as fake_msg

pytestmark = pytest.mark.e2e


def base_url(daphne) -> str:
    return f"http://{daphne.address}"


def close_sockets(user_id: int, code: int) -> None:
    """The server closes every socket of the user with ``code`` (through the channel layer, as a revoke does)."""
    event = {"type": push.CLOSE_EVENT_TYPE, "code": code, "token": None}
    push.send([push.Out(push.user_group(user_id), event, [])])


def push_resync(user_id: int) -> None:
    push.send([push.to_user(user_id, [{"type": "resync"}])])


async def in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Django's database and push helpers are synchronous: run them off the loop."""
    return await asyncio.to_thread(func, *args)


async def until(condition: Callable[[], object], within: float = 30.0) -> None:
    """Poll what the clients collected (they have no event for 'n messages arrived')."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def received(events: list) -> list[int]:
    return [e.message.msg_id for e in events if isinstance(e, MessageReceived)]


def reconnected_after(events: list, code: int) -> bool:
    """The client was closed with ``code``, then connected (ready and caught up) again."""
    states = [e for e in events if isinstance(e, StateChanged)]
    closed = [i for i, e in enumerate(states) if e.state == "connecting" and e.code == code]
    return bool(closed) and any(e.state == "connected" for e in states[closed[0] + 1 :])


def collect(client: ChatClient) -> list:
    events: list = []
    client.on("*", events.append)
    return events


def run(scenario: Awaitable[None], within: float = 90) -> None:
    async def main() -> None:
        await asyncio.wait_for(scenario, within)

    asyncio.run(main())


def stored(sender_id: int, content: str | None = None) -> list[MessageRecord]:
    rows = MessageRecord.objects.filter(sender_id=sender_id)
    if content is not None:
        rows = rows.filter(content=content)
    return list(rows)


# --- delivery under faults ------------------------------------------------------------------------


def test_the_receiver_loses_its_sockets_mid_burst_and_gets_each_of_200_messages_once_in_order(
    daphne, celery_worker, alice, bob
):
    async def scenario() -> None:
        sender = ChatClient(base_url(daphne), alice.token, min_reconnect_delay=0.1, max_reconnect_delay=1)
        receiver = ChatClient(base_url(daphne), bob.token, min_reconnect_delay=0.1, max_reconnect_delay=1)
        events = collect(receiver)
        async with sender, receiver:
            await asyncio.gather(sender.ready(15), receiver.ready(15))
            burst = asyncio.gather(*(sender.send(bob.id, f"burst {i}") for i in range(200)))
            await until(lambda: len(received(events)) >= 40)
            # A normal close (a server shutting down; daphne's autobahn refuses to send 1012 from a consumer,
            # that one is unit-tested against a fake server).
            await in_thread(close_sockets, bob.id, 1000)
            # Pushes queued ahead of the close may take the old socket past 120: the next close
            # must find the new socket, so wait for it too (a close with no socket is lost).
            await until(lambda: len(received(events)) >= 120 and reconnected_after(events, 1000))
            await in_thread(close_sockets, bob.id, 4000)  # any code but 4401: reconnect with backoff
            acked = await burst
            await until(lambda: len(received(events)) >= 200)
            await asyncio.sleep(1.0)  # late duplicates would show up now
        ids = received(events)
        assert len(ids) == 200 and set(ids) == {m.msg_id for m in acked}
        assert ids == sorted(ids), "in msg_id order"
        closes = [e.code for e in events if isinstance(e, StateChanged) and e.state == "connecting" and e.code]
        assert closes == [1000, 4000]
        assert len([e for e in events if isinstance(e, CaughtUp)]) == 3

    run(scenario())
    assert len(stored(alice.id)) == 200


class Relay:
    """A TCP relay in front of daphne that can swallow what the server says and cut every connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mute = False
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [client_writer, server_writer]

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downstream: bool) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    if not (downstream and self.mute):
                        writer.write(data)
                        await writer.drain()
            writer.close()

        await asyncio.gather(pump(client_reader, server_writer, False), pump(server_reader, client_writer, True))

    def cut(self) -> None:
        self.mute = False
        for writer in self.writers:
            writer.transport.abort()
        self.writers = []

    async def close(self) -> None:
        self.cut()
        self.server.close()


def test_a_socket_cut_between_send_and_ack_stores_one_message_with_one_msg_id(daphne, celery_worker, alice, bob):
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        relay = Relay(daphne.port)
        port = await relay.start()
        client = ChatClient(f"http://127.0.0.1:{port}", alice.token, min_reconnect_delay=0.1, max_reconnect_delay=1)
        events = collect(client)
        async with client:
            await client.ready(15)
            relay.mute = True  # the server's answers vanish from here on
            sending = asyncio.ensure_future(client.send(bob.id, "cut before the ack"))
            direct = Rest(base_url(daphne), bob.token)  # straight to daphne, past the relay
            while not [m for m in (await direct.sync(0)).results if m.content == "cut before the ack"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            await direct.aclose()
            assert not sending.done(), "the ack was swallowed"
            relay.cut()
            outcome["message"] = await asyncio.wait_for(sending, 30)
            await until(lambda: received(events))
            await asyncio.sleep(0.5)
            outcome["events"] = events
        await relay.close()

    run(scenario())
    rows = stored(alice.id, "cut before the ack")
    assert len(rows) == 1
    message = outcome["message"]
    assert message.msg_id == rows[0].msg_id
    assert received(outcome["events"]) == [message.msg_id]
    states = [e.state for e in outcome["events"] if isinstance(e, StateChanged)]
    assert states == ["connecting", "connected", "connecting", "connected", "disconnected"]


def test_a_message_pushed_and_then_synced_surfaces_once(daphne, celery_worker, alice, bob):
    async def scenario() -> None:
        client = ChatClient(base_url(daphne), bob.token)
        events = collect(client)
        async with client:
            await client.ready(15)
            rest = Rest(base_url(daphne), alice.token)
            sent = await rest.send(bob.id, "pushed, then synced", "c-live-1")
            await rest.aclose()
            await until(lambda: received(events))
            # Pushed live; the cursor still lies before it, so the catch-up that resync starts returns it again.
            await in_thread(push_resync, bob.id)
            await until(lambda: len([e for e in events if isinstance(e, CaughtUp)]) == 2)
            await asyncio.sleep(0.3)
            # The conversation as both calls see it.
            by_id = await client.conversation(sent.conversation_id)
            by_peer = await client.conversation_with(alice.id)
        assert received(events) == [sent.msg_id]
        assert by_id == by_peer and by_id.last_message == sent

    run(scenario())


def test_resync_catches_up_what_was_never_pushed(daphne, alice, bob):
    """No fan-out worker: stored messages reach no socket until the client syncs."""

    async def scenario() -> None:
        client = ChatClient(base_url(daphne), bob.token)
        events = collect(client)
        async with client:
            await client.ready(15)
            rest = Rest(base_url(daphne), alice.token)
            sent = [await rest.send(bob.id, f"unpushed {i}", f"c-unpushed-{i}") for i in range(3)]
            await rest.aclose()
            await asyncio.sleep(0.5)
            assert received(events) == []
            await in_thread(push_resync, bob.id)
            await until(lambda: len(received(events)) == 3)
            assert client.state == "connected"
        assert received(events) == [m.msg_id for m in sent]
        states = [e.state for e in events if isinstance(e, StateChanged)]
        assert states == ["connecting", "connected", "disconnected"], "caught up without reconnecting"

    run(scenario())


def test_a_catch_up_over_many_small_pages_misses_nothing(daphne, alice, bob):
    async def scenario() -> None:
        store = MemoryStore()
        first = ChatClient(base_url(daphne), bob.token, store=store)
        async with first:
            await first.ready(15)
        rest = Rest(base_url(daphne), alice.token)
        sent = [await rest.send(bob.id, f"while away {i}", f"c-away-{i}") for i in range(10)]
        await rest.aclose()
        second = ChatClient(base_url(daphne), bob.token, store=store, sync_limit=3)
        events = collect(second)
        async with second:
            await second.ready(15)
        assert received(events) == [m.msg_id for m in sent]

    run(scenario())


def test_a_4401_close_ends_the_client_without_a_retry(daphne, alice):
    async def scenario() -> None:
        client = ChatClient(base_url(daphne), "not-a-real-token")
        events = collect(client)
        await client.connect()
        with pytest.raises(ChatError) as raised:
            await client.ready(15)
        assert raised.value.code == "not_authenticated"
        await asyncio.sleep(1.5)
        assert client.state == "disconnected"
        assert [(e.state, e.code) for e in events if isinstance(e, StateChanged)] == [
            ("connecting", None),
            ("disconnected", 4401),
        ]
        await client.aclose()

    run(scenario())


def test_a_revoked_token_closes_the_connected_client_for_good(daphne, alice):
    from rest_framework.authtoken.models import Token

    async def scenario() -> None:
        client = ChatClient(base_url(daphne), alice.token)
        events = collect(client)
        async with client:
            await client.ready(15)
            await in_thread(lambda: Token.objects.filter(key=alice.token).delete())
            await until(lambda: client.state == "disconnected")
            await asyncio.sleep(1.0)
            assert client.state == "disconnected"
        assert [(e.state, e.code) for e in events if isinstance(e, StateChanged)][-1] == ("disconnected", 4401)

    run(scenario())


def test_a_frozen_server_is_noticed_by_the_missing_pong_and_reconnected_to(start_daphne, bob):
    server = start_daphne()  # a daphne of this test's own, to freeze (SIGSTOP) and thaw

    async def scenario() -> None:
        client = ChatClient(
            f"http://{server.address}",
            bob.token,
            ping_interval=0.5,
            pong_timeout=1.0,
            open_timeout=2.0,
            min_reconnect_delay=0.1,
            max_reconnect_delay=0.5,
        )
        events = collect(client)
        async with client:
            await client.ready(15)
            server.proc.send_signal(signal.SIGSTOP)
            try:
                await until(lambda: client.state == "connecting", within=10)
            finally:
                server.proc.send_signal(signal.SIGCONT)
            await client.ready(30)
        lost = [e for e in events if isinstance(e, StateChanged) and e.state == "connecting" and e.reason]
        assert lost[0].reason == "no pong within 1 s"
        assert len([e for e in events if isinstance(e, CaughtUp)]) >= 2

    run(scenario())


# A subscription's keys as a browser makes them (65 and 16 bytes, base64url).
PUSH_KEYS = (
    "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    "tBHItJI5svbpez7KI4CCXg",
)


def test_watch_typing_read_and_the_rest_calls_against_the_live_server(daphne, celery_worker, alice, bob):
    async def scenario() -> None:
        a = ChatClient(base_url(daphne), alice.token)
        b = ChatClient(base_url(daphne), bob.token)
        seen_by_a, seen_by_b = collect(a), collect(b)
        async with b:
            await b.ready(15)
            await b.watch([alice.id])
            await until(lambda: [e for e in seen_by_b if isinstance(e, Presence)])
            async with a:
                await a.ready(15)
                await until(lambda: [e for e in seen_by_b if isinstance(e, Presence) and e.online])
                sent = await a.send(bob.id, "are you there?")
                await until(lambda: [e for e in seen_by_b if isinstance(e, UnreadChanged) and e.unread == 1])
                assert await a.typing(sent.conversation_id) is True
                await until(lambda: [e for e in seen_by_b if isinstance(e, Typing)])
                await b.mark_read(sent.conversation_id)
                await until(lambda: [e for e in seen_by_a if isinstance(e, ReadReceipt)])
                await until(lambda: [e for e in seen_by_b if isinstance(e, UnreadChanged) and e.unread == 0])
                page = await b.conversations()
                history = await b.history(sent.conversation_id, limit=10)
                assert [c.conversation_id for c in page.results] == [sent.conversation_id]
                assert page.results[0].peer.username == "alice" and page.results[0].unread == 0
                assert history.results == [sent] and history.has_more is False
                assert (await b.me()).user_id == bob.id and [p.user_id for p in await b.users("ali")] == [alice.id]

                # The typed calls the browser UI uses: settings, profile, blocking, offline, Web Push.
                assert (await b.conversation_with(alice.id)).conversation_id == sent.conversation_id
                changed = await b.update_conversation(sent.conversation_id, muted=True, pinned=True)
                assert (changed.muted, changed.pinned, changed.archived) == (True, True, False)
                assert (await a.conversation(sent.conversation_id)).muted is False, "bob's setting, not alice's"
                assert (await a.update_me(nickname="Alicia")).nickname == "Alicia"
                await until(
                    lambda: [e for e in seen_by_b if isinstance(e, ProfileChanged) and e.profile.name == "Alicia"]
                )
                await b.block(alice.id)
                assert [(p.user_id, p.blocked) for p in await b.blocks()] == [(alice.id, True)]
                with pytest.raises(ChatError) as blocked:
                    await a.send(bob.id, "while blocked")
                assert blocked.value.code == "forbidden"
                await b.unblock(alice.id)
                assert await b.blocks() == []
                for group in await b.offline():
                    await b.ack_offline(group.sender.user_id, group.messages[-1].msg_id)
                assert await b.offline() == [] and (await b.unread()).total == 0
                assert len(await b.push_key()) > 80
                await b.subscribe_push("https://8.8.8.8/push/sdk-python", *PUSH_KEYS)
                await b.unsubscribe_push("https://8.8.8.8/push/sdk-python")
                with pytest.raises(ChatError) as insecure:
                    await b.subscribe_push("http://8.8.8.8/push/sdk-python", *PUSH_KEYS)
                assert insecure.value.code == "validation_error" and insecure.value.errors
                assert "endpoint" in insecure.value.errors
            await until(lambda: [e for e in seen_by_b if isinstance(e, Presence) and not e.online])
        receipt = next(e for e in seen_by_a if isinstance(e, ReadReceipt))
        assert (receipt.reader_id, receipt.up_to) == (bob.id, sent.msg_id)
        assert next(e for e in seen_by_b if isinstance(e, Typing)).user_id == alice.id

    run(scenario())


# --- restart --------------------------------------------------------------------------------------


def test_a_restart_with_the_stored_cursor_and_outbox_loses_and_repeats_nothing(
    daphne, celery_worker, alice, bob, tmp_path: Path
):
    store_path = tmp_path / "bob.json"
    seen: dict[str, list[int]] = {}

    async def scenario() -> None:
        rest = Rest(base_url(daphne), alice.token)
        first = ChatClient(base_url(daphne), bob.token, store=JsonFileStore(store_path))
        events = collect(first)
        async with first:
            await first.ready(15)
            before = [await rest.send(bob.id, f"before {i}", f"c-before-{i}") for i in range(3)]
            await until(lambda: len(received(events)) == 3)
        seen["first"] = received(events)
        away = [await rest.send(bob.id, f"away {i}", f"c-away-{i}") for i in range(3)]
        await rest.aclose()
        # Written while offline; the app quits before it could connect.
        offline = ChatClient(base_url(daphne), bob.token, store=JsonFileStore(store_path))
        queued = offline.queue(alice.id, "written offline")
        await offline.aclose()

        second = ChatClient(base_url(daphne), bob.token, store=JsonFileStore(store_path))
        events = collect(second)
        async with second:
            await second.ready(15)
            reply = await second.wait_ack(queued.client_msg_id)
            await until(lambda: len(received(events)) == 4)
            await asyncio.sleep(0.5)
        seen["second"] = received(events)
        assert seen["first"] == [m.msg_id for m in before]
        assert seen["second"] == [*(m.msg_id for m in away), reply.msg_id]
        assert reply.client_msg_id == queued.client_msg_id

    run(scenario())
    assert len(stored(bob.id, "written offline")) == 1
    assert JsonFileStore(store_path).load().outbox == []


# --- changes made while away (PROTOCOL 1.2 revisions) ----------------------------------------------


def server_has_revisions(user) -> bool:
    """Whether sync answers carry ``rev`` (PROTOCOL 1.2): only then can sync bring back a change."""
    results = user.get("sync", {"since": 0}).json()["results"]
    return bool(results) and "rev" in results[0]


def test_a_recall_made_while_away_is_applied_on_reconnect(daphne, celery_worker, alice, bob):
    first = alice.send(bob, "soon recalled")
    if not server_has_revisions(bob):
        pytest.skip(
            "the server syncs by msg_id and its Messages carry no rev (PROTOCOL 1.2 Revisions not built yet): "
            "a recall of a message the device already synced never comes back in sync; the SDK's side "
            "(a larger rev replaces the copy, emitted as MessageChanged) is unit-tested"
        )

    async def scenario() -> None:
        store = MemoryStore()
        store.save(Saved(cursor=0))  # this device synced everything, the message included
        client = ChatClient(base_url(daphne), bob.token, store=store)
        messages = MessageList(first["conversation_id"])
        async with client:
            await client.ready(15)
        rest = Rest(base_url(daphne), alice.token)
        await rest.recall(first["msg_id"])
        await rest.aclose()
        again = ChatClient(base_url(daphne), bob.token, store=store)
        events = collect(again)
        async with again:
            await again.ready(15)
        for event in events:
            messages.apply(event)
        changed = [e.message for e in events if isinstance(e, MessageChanged)]
        assert [(m.msg_id, m.status) for m in changed] == [(first["msg_id"], "recalled")]
        assert [(m.msg_id, m.content) for m in messages.messages()] == [(first["msg_id"], "")]

    run(scenario())


def test_an_edit_made_while_away_is_applied_on_reconnect(daphne, alice, bob):
    first = alice.send(bob, "soon edited")
    if alice.patch(f"messages/{first['msg_id']}", {"content": "soon edited"}).status_code == 405:
        pytest.skip("the server answers 405 to PATCH messages/{id}: editing (PROTOCOL 1.2) is not built yet")

    async def scenario() -> None:
        store = MemoryStore()
        store.save(Saved(cursor=0))
        client = ChatClient(base_url(daphne), bob.token, store=store)
        async with client:
            await client.ready(15)
        rest = Rest(base_url(daphne), alice.token)
        edited = await rest.edit(first["msg_id"], "edited while bob was away")
        await rest.aclose()
        assert edited.rev > edited.msg_id and edited.edited_at
        again = ChatClient(base_url(daphne), bob.token, store=store)
        events = collect(again)
        async with again:
            await again.ready(15)
        changed = [e.message for e in events if isinstance(e, MessageChanged)]
        assert [(m.msg_id, m.content, m.rev) for m in changed] == [
            (first["msg_id"], "edited while bob was away", edited.rev)
        ]
        assert received(events) == []

    run(scenario())


# --- the command-line client ------------------------------------------------------------------------


def test_the_cli_logs_in_sends_and_shows_history_and_conversations(
    daphne, celery_worker, alice, bob, tmp_path, capsys, monkeypatch
):
    config = str(tmp_path / "cli.json")
    server = base_url(daphne)
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    assert cli(["--config", config, "login", "--server", server, "alice"]) == 0
    saved = json.loads(Path(config).read_text())
    assert saved["token"] == alice.token and saved["user_id"] == alice.id
    assert oct(Path(config).stat().st_mode & 0o777) == "0o600"

    assert cli(["--config", config, "send", str(bob.id), "hello", "from", "the", "cli"]) == 0
    out = capsys.readouterr().out
    assert "sent " in out
    (row,) = stored(alice.id, "hello from the cli")
    assert f"sent {row.msg_id} in conversation {row.session_id}" in out

    assert cli(["--config", config, "history", str(row.session_id)]) == 0
    history = capsys.readouterr().out.splitlines()
    assert history[-1].startswith(f"{row.msg_id}  ") and history[-1].endswith("me: hello from the cli")

    assert cli(["--config", config, "conversations"]) == 0
    listing = capsys.readouterr().out
    assert f"{row.session_id}  bob (Bob, user {bob.id})" in listing and "hello from the cli" in listing

    # A refused send is an error message and exit code 1, not a traceback.
    assert cli(["--config", config, "send", str(alice.id), "to myself"]) == 1
    assert "validation_error" in capsys.readouterr().err


# chat-cli as a terminal starts it: SIGINT at its default. A test run started in the background of a
# non-interactive shell (nohup, `cmd &`) inherits SIGINT ignored, and Python then leaves it ignored:
# Ctrl-C, which that child could never get from a terminal, did nothing (two clean-clone runs hung here).
AS_IN_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'chat-cli'; runpy.run_module('chat_sdk.cli', run_name='__main__')",
]


def test_the_cli_follows_a_conversation_live_and_stops_on_ctrl_c(
    daphne, celery_worker, alice, bob, tmp_path, monkeypatch
):
    config = tmp_path / "cli.json"
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    assert cli(["--config", str(config), "login", "--server", base_url(daphne), "alice"]) == 0
    first = bob.send(alice, "before following")
    follower = subprocess.Popen(
        [*AS_IN_A_TERMINAL, "--config", str(config), "follow", str(first["conversation_id"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    for stream in (follower.stdout, follower.stderr):
        threading.Thread(target=lambda s=stream: [lines.put(line) for line in s], daemon=True).start()

    def wait_line(part: str) -> str:
        while True:
            line = lines.get(timeout=30)
            if part in line:
                return line

    try:
        wait_line("-- connected")
        sent = bob.send(alice, "hello follower")
        assert wait_line("hello follower").startswith(f"{sent['msg_id']}  ")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(15) == 0
    finally:
        follower.kill()
    # Its cursor is kept beside the config: the next run starts after what this one showed.
    assert json.loads((tmp_path / "cli.follow.json").read_text())["cursor"] >= first["msg_id"]


def test_the_cli_without_a_login_says_how_to_log_in(tmp_path):
    with pytest.raises(SystemExit) as exited:
        cli(["--config", str(tmp_path / "missing.json"), "conversations"])
    assert "chat-cli login" in str(exited.value)


# --- the README's client ----------------------------------------------------------------------------


def test_the_readmes_30_line_client_chats_with_a_live_server(daphne, celery_worker, alice, bob, tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "sdk" / "python" / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) <= 35
    script = tmp_path / "chat.py"
    script.write_text(code)
    bob.send(alice, "hello alice")  # before the client starts: history, not a live event
    done = subprocess.run(
        [sys.executable, str(script), base_url(daphne), "alice", PASSWORD, str(bob.id)],
        input="hi bob\n \n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["me: hi bob"]
    assert "not sent: validation_error" in done.stderr
    assert "-- connected" in done.stderr
    assert len(stored(alice.id, "hi bob")) == 1


# --- attachments, without a server (the fast layer) ------------------------------------------------


def attachment_json(attachment_id: int, name: str = "a.bin", size: int = 10, **fields: Any) -> dict[str, Any]:
    return {
        "attachment_id": attachment_id,
        "name": name,
        "size": size,
        "content_type": "application/octet-stream",
        "kind": "file",
        "width": None,
        "height": None,
        "url": f"/api/v1/attachments/{attachment_id}",
        "thumbnail_url": None,
        **fields,
    }


def a_file(tmp_path: Path, size: int, name: str = "a.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
    return path


@pytest.mark.unit
def test_an_upload_the_size_check_refuses_sends_nothing(tmp_path):
    requests: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(len(request.read()))
        return httpx.Response(201, json=attachment_json(1, size=100))

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(handler), max_upload_bytes=100)
        progress: list[tuple[int, int]] = []
        with pytest.raises(AttachmentTooLarge) as raised:
            await rest.upload(a_file(tmp_path, 101), lambda s, t: progress.append((s, t)))
        assert (raised.value.size, raised.value.limit, raised.value.status) == (101, 100, None)
        with pytest.raises(InvalidAttachment):
            await rest.upload(a_file(tmp_path, 0, "empty.txt"))
        with pytest.raises(InvalidAttachment):
            await rest.upload(tmp_path / "missing.txt")
        assert requests == [] and progress == []
        assert (await rest.upload(a_file(tmp_path, 100))).attachment_id == 1
        await rest.aclose()

    asyncio.run(scenario())
    assert len(requests) == 1


@pytest.mark.unit
def test_upload_refusals_are_typed_and_a_413_teaches_the_size_check(tmp_path):
    requests: list[int] = []
    answers: dict[str, httpx.Response] = {
        "big": httpx.Response(413, json={"code": "payload_too_large", "detail": "The file is larger than 999 bytes."}),
        "png": httpx.Response(
            400, json={"code": "validation_error", "detail": "bad", "errors": {"file": ["Not a whole image."]}}
        ),
        "raw": httpx.Response(415, json={"code": "unsupported_media_type", "detail": "multipart please"}),
        "many": httpx.Response(429, json={"code": "rate_limited", "detail": "later"}, headers={"Retry-After": "30"}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        requests.append(len(body))
        for marker, answer in answers.items():
            if f'filename="{marker}'.encode() in body:
                return answer
        return httpx.Response(201, json=attachment_json(2))

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(publishing_no_limits(handler)))
        with pytest.raises(AttachmentTooLarge) as too_large:
            await rest.upload(a_file(tmp_path, 5000, "big.bin"))
        assert too_large.value.status == 413 and isinstance(too_large.value, ChatError)
        sent = len(requests)
        with pytest.raises(AttachmentTooLarge) as again:
            await rest.upload(a_file(tmp_path, 5000, "big-again.bin"))
        assert again.value.status is None and len(requests) == sent, "refused before a byte was sent"
        assert (await rest.upload(a_file(tmp_path, 4999, "smaller.bin"))).attachment_id == 2
        with pytest.raises(InvalidAttachment) as invalid:
            await rest.upload(a_file(tmp_path, 10, "png.png"))
        assert invalid.value.errors == {"file": ["Not a whole image."]} and invalid.value.status == 400
        with pytest.raises(UnsupportedMediaType):
            await rest.upload(a_file(tmp_path, 10, "raw.bin"))
        with pytest.raises(ChatError) as limited:
            await rest.upload(a_file(tmp_path, 10, "many.bin"))
        assert not isinstance(limited.value, UploadError)
        assert (limited.value.code, limited.value.retry_after, limited.value.retryable) == ("rate_limited", 30.0, True)
        await rest.aclose()

    asyncio.run(scenario())


LIMITS = {"max_bytes": 100, "max_image_pixels": 25_000_000, "max_per_message": 10}


def publishing(limits: Callable[[], httpx.Response]) -> tuple[list[str], httpx.MockTransport]:
    """A server answering GET attachments/limits with ``limits()`` and every upload with 201; the requests."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        calls.append(f"{request.method} {request.url.path}")
        if request.url.path == LIMITS_PATH:
            return limits()
        return httpx.Response(201, json=attachment_json(len(calls)))

    return calls, httpx.MockTransport(handler)


@pytest.mark.unit
def test_the_published_limit_is_asked_once_and_refuses_a_larger_file_before_a_byte_is_sent(tmp_path):
    calls, transport = publishing(lambda: httpx.Response(200, json=LIMITS))

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=transport)
        progress: list[int] = []
        with pytest.raises(AttachmentTooLarge) as refused:
            await rest.upload(a_file(tmp_path, 101, "too-big.bin"), lambda sent, total: progress.append(sent))
        assert (refused.value.size, refused.value.limit, refused.value.status) == (101, 100, None)
        assert progress == []
        await rest.upload(a_file(tmp_path, 100))
        await rest.upload(a_file(tmp_path, 50))
        limits = await rest.attachment_limits()
        assert (limits.max_bytes, limits.max_image_pixels, limits.max_per_message) == (100, 25_000_000, 10)
        await rest.aclose()

        told = Rest("http://chat.test", "tok", transport=transport, max_upload_bytes=1000)
        await told.upload(a_file(tmp_path, 500, "told.bin"))
        with pytest.raises(AttachmentTooLarge) as over_the_apps_limit:
            await told.upload(a_file(tmp_path, 1001, "over.bin"))
        assert over_the_apps_limit.value.limit == 1000
        await told.aclose()

    asyncio.run(scenario())
    upload = "POST /api/v1/attachments"
    assert calls == [f"GET {LIMITS_PATH}", upload, upload, upload], "asked once; never with max_upload_bytes"


@pytest.mark.unit
def test_without_a_published_limit_the_upload_goes_and_a_failed_ask_is_tried_again(tmp_path):
    answers: list[Callable[[], httpx.Response]] = [
        lambda: httpx.Response(503, json={"code": "unavailable", "detail": "later"}),
        lambda: httpx.Response(200, json=LIMITS),
    ]
    calls, transport = publishing(lambda: answers.pop(0)())
    old_calls, old_server = publishing(lambda: httpx.Response(404, json={"code": "not_found", "detail": "Not found."}))

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=transport)
        await rest.upload(a_file(tmp_path, 500))
        with pytest.raises(AttachmentTooLarge) as refused:
            await rest.upload(a_file(tmp_path, 500))
        assert refused.value.limit == 100
        await rest.aclose()

        older = Rest("http://chat.test", "tok", transport=old_server)
        await older.upload(a_file(tmp_path, 500))
        await older.upload(a_file(tmp_path, 500))
        with pytest.raises(ChatError) as unpublished:
            await older.attachment_limits()
        assert unpublished.value.code == "not_found"
        await older.aclose()

    asyncio.run(scenario())
    assert calls == [f"GET {LIMITS_PATH}", "POST /api/v1/attachments", f"GET {LIMITS_PATH}"]
    upload = "POST /api/v1/attachments"
    assert old_calls[:3] == [f"GET {LIMITS_PATH}", upload, upload], "a server without it is not asked again"


@pytest.mark.unit
def test_a_connected_clients_send_refuses_a_file_over_the_published_limit_before_queueing_it(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        server.limits = LIMITS
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        with pytest.raises(AttachmentTooLarge) as refused:
            await client.send(7, "", files=[a_file(tmp_path, 101)])
        assert (refused.value.size, refused.value.limit, refused.value.status) == (101, 100, None)
        assert client.outbox == [] and server.log == [] and not [e for e in events if isinstance(e, SendQueued)]
        await client.aclose()

    run_uploading(scenario)


@pytest.mark.unit
def test_an_upload_is_cancelled_by_its_handle_or_by_its_progress_callback(tmp_path):
    answered: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answered.append(len(request.read()))
        return httpx.Response(201, json=attachment_json(3))

    path = a_file(tmp_path, 1_000_000)

    async def scenario() -> None:
        rest = Rest("http://chat.test", "tok", transport=httpx.MockTransport(publishing_no_limits(handler)))
        progress: list[int] = []

        def stop_at_200k(sent: int, total: int) -> None:
            progress.append(sent)
            if sent > 200_000:
                raise UploadCancelled()

        with pytest.raises(UploadCancelled):
            await rest.upload(path, stop_at_200k)
        assert 200_000 < progress[-1] < 300_000

        first = asyncio.Event()
        handle = rest.start_upload(path, lambda sent, total: first.set())
        await first.wait()
        assert handle.cancel() is True
        with pytest.raises(UploadCancelled):
            await handle
        assert handle.done() and handle.cancel() is False

        finished = rest.start_upload(path)
        assert (await finished).attachment_id == 3
        assert finished.cancel() is False
        await rest.aclose()

    asyncio.run(scenario())
    assert len(answered) == 1, "only the upload that was not cancelled reached the server"


@pytest.mark.unit
def test_downloads_send_the_token_to_the_server_only_and_write_whole_files(tmp_path):
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Authorization")))
        if request.url.path == "/api/v1/attachments/7":
            disposition = "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt"
            return httpx.Response(200, content=b"x" * 100_000, headers={"Content-Disposition": disposition})
        if request.url.path == "/api/v1/attachments/8/thumbnail":
            return httpx.Response(200, content=b"thumb", headers={"Content-Type": "image/png"})
        return httpx.Response(404, json={"code": "not_found", "detail": "No such attachment."})

    image = Attachment.from_dict(
        attachment_json(8, "p.png", kind="image", thumbnail_url="/api/v1/attachments/8/thumbnail")
    )
    file = Attachment.from_dict(attachment_json(7, "résumé.txt"))

    async def scenario() -> None:
        rest = Rest("http://chat.test:8000", "tok", transport=httpx.MockTransport(handler))
        assert rest.attachment_url(image, thumbnail=True) == "http://chat.test:8000/api/v1/attachments/8/thumbnail"
        assert rest.attachment_url(9) == "http://chat.test:8000/api/v1/attachments/9"
        assert await rest.download(image, thumbnail=True) == b"thumb"
        progress: list[tuple[int, int]] = []
        written = await rest.download_to(file, tmp_path, on_progress=lambda got, total: progress.append((got, total)))
        assert written == tmp_path / "résumé.txt" and written.read_bytes() == b"x" * 100_000
        assert progress[-1] == (100_000, 100_000)
        with pytest.raises(ChatError) as no_thumbnail:
            await rest.download(file, thumbnail=True)
        assert no_thumbnail.value.code == "not_found"
        with pytest.raises(ChatError) as gone:
            await rest.download_to(99, tmp_path / "gone.bin")
        assert (gone.value.code, gone.value.status) == ("not_found", 404)
        assert not list(tmp_path.glob("gone.bin*")), "nothing half written"
        elsewhere = Attachment.from_dict(attachment_json(5, url="https://evil.test/api/v1/attachments/5"))
        with pytest.raises(ChatError) as refused:
            await rest.download(elsewhere)
        assert refused.value.code == "invalid_url"
        await rest.aclose()

    asyncio.run(scenario())
    assert all(token == "Token tok" for _, token in seen)
    assert [url for url, _ in seen] == [
        "http://chat.test:8000/api/v1/attachments/8/thumbnail",
        "http://chat.test:8000/api/v1/attachments/7",
        "http://chat.test:8000/api/v1/attachments/99",
    ], "no request for a file's thumbnail nor to another origin"


class UploadingServer(FakeServer):
    """The fake server, also answering POST attachments: in ``upload_delay`` seconds, ids from 55 up;
    ``upload_failures`` first answers (an exception to raise, or a response) come before the real ones."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[bytes] = []
        self.upload_delay = 0.0
        self.upload_failures: list[Exception | httpx.Response] = []
        self.log: list[str] = []
        self.before_upload: Callable[[], Awaitable[None]] | None = None

    async def rest(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/v1/attachments":
            return await super().rest(request)
        body = await request.aread()
        if self.before_upload is not None:
            await self.before_upload()
        self.log.append("upload started")
        await asyncio.sleep(self.upload_delay)
        if self.upload_failures:
            failure = self.upload_failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        self.uploads.append(body)
        self.log.append(f"upload {54 + len(self.uploads)}")
        return httpx.Response(201, json=attachment_json(54 + len(self.uploads), size=len(body)))


def run_uploading(scenario: Callable[[UploadingServer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with UploadingServer() as server:
            await asyncio.wait_for(scenario(server), 20)

    asyncio.run(main())


def acked(frame: dict[str, Any], msg_id: int = 50) -> str:
    attachments = [attachment_json(i) for i in frame.get("attachments", [])]
    message = fake_msg(msg_id, client_msg_id=frame["client_msg_id"], sender_id=9, recipient_id=7)
    return json.dumps(
        {"type": "ack", "client_msg_id": frame["client_msg_id"], "message": {**message, "attachments": attachments}}
    )


@pytest.mark.unit
def test_a_queued_send_uploads_its_files_first_and_every_resend_carries_the_same_ids(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        answers = iter(["drop", "ack"])

        async def on_send(ws: Any, frame: dict[str, Any]) -> None:
            server.log.append(f"send {frame.get('attachments')}")
            if next(answers) == "drop":
                await ws.close(1011, "crash before the ack")
            else:
                await ws.send(acked(frame))

        server.on_send = on_send
        server.upload_delay = 0.1
        client = server.client(min_reconnect_delay=0.01, max_reconnect_delay=0.05)
        events = collect(client)
        await client.connect()
        await client.ready(5)
        files = [a_file(tmp_path, 300_000, "one.bin"), a_file(tmp_path, 10, "two.txt")]
        message = await client.send(7, "", attachments=[54], files=files)
        sends = [f for f in server.frames if f["type"] == "send"]
        assert [f["attachments"] for f in sends] == [[54, 55, 56], [54, 55, 56]]
        assert len({f["client_msg_id"] for f in sends}) == 1
        assert server.log == [
            "upload started",
            "upload 55",
            "upload started",
            "upload 56",
            "send [54, 55, 56]",
            "send [54, 55, 56]",
        ], "the send waits for its uploads, and a resend uploads nothing again"
        assert [a.attachment_id for a in message.attachments] == [54, 55, 56]
        progress = [e for e in events if isinstance(e, UploadProgress)]
        assert {e.path for e in progress} == {str(f) for f in files}
        first = [e.sent for e in progress if e.path == str(files[0])]
        assert first == sorted(first) and len(first) > 3 and progress[-1].sent == progress[-1].total
        assert client.outbox == []
        await client.aclose()

    run_uploading(scenario)


@pytest.mark.unit
def test_a_send_whose_upload_is_cancelled_or_refused_is_never_sent(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        server.upload_delay = 0.5
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        sending = asyncio.ensure_future(client.send(7, "with a file", files=[a_file(tmp_path, 1000)]))
        await until(lambda: server.log == ["upload started"])
        (entry,) = client.outbox
        assert client.cancel(entry.client_msg_id) is True
        with pytest.raises(UploadCancelled):
            await sending
        assert client.cancel(entry.client_msg_id) is False
        failed = [e for e in events if isinstance(e, SendFailed)]
        assert [(e.client_msg_id, e.error.code) for e in failed] == [(entry.client_msg_id, "cancelled")]

        server.upload_delay = 0
        server.upload_failures = [
            httpx.Response(400, json={"code": "validation_error", "detail": "no", "errors": {"file": ["Broken."]}})
        ]
        with pytest.raises(InvalidAttachment):
            await client.send(7, "a broken image", files=[a_file(tmp_path, 10, "broken.png")])
        await asyncio.sleep(0.2)
        assert [f for f in server.frames if f["type"] == "send"] == [] and client.outbox == []
        assert server.uploads == []
        await client.aclose()

    run_uploading(scenario)


@pytest.mark.unit
def test_an_upload_that_found_no_server_is_retried_then_sent(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        async def on_send(ws: Any, frame: dict[str, Any]) -> None:
            await ws.send(acked(frame))

        server.on_send = on_send
        server.upload_failures = [
            httpx.ConnectError("refused"),
            httpx.Response(503, json={"code": "unavailable", "detail": "busy"}, headers={"Retry-After": "0.05"}),
        ]
        client = server.client(min_reconnect_delay=0.01, max_reconnect_delay=0.05)
        await client.connect()
        await client.ready(5)
        message = await client.send(7, "", files=[a_file(tmp_path, 10)])
        assert [a.attachment_id for a in message.attachments] == [55]
        assert server.log == ["upload started", "upload started", "upload started", "upload 55"]
        await client.aclose()

    run_uploading(scenario)


@pytest.mark.unit
def test_a_file_queued_offline_survives_a_restart_and_a_too_large_one_is_never_queued(tmp_path):
    store = JsonFileStore(tmp_path / "state.json")
    path = a_file(tmp_path, 50)

    async def scenario(server: UploadingServer) -> None:
        offline = server.client(store=store, max_upload_bytes=50)
        with pytest.raises(AttachmentTooLarge):
            offline.queue(7, "too big", files=[a_file(tmp_path, 51, "big.bin")])
        assert offline.outbox == []
        entry = offline.queue(7, "", files=[path])
        await offline.aclose()
        assert store.load().outbox[0].files == [str(path)]

        async def on_send(ws: Any, frame: dict[str, Any]) -> None:
            await ws.send(acked(frame))

        server.on_send = on_send
        again = server.client(store=store)
        await again.connect()
        message = await again.wait_ack(entry.client_msg_id)
        assert [a.attachment_id for a in message.attachments] == [55]
        assert server.uploads[0].count(path.read_bytes()) == 1
        await again.aclose()
        assert store.load().outbox == []

    run_uploading(scenario)


# --- attachments against the real server ------------------------------------------------------------


def png(path: Path, width: int = 800, height: int = 600) -> Path:
    from PIL import Image

    Image.new("RGB", (width, height), (200, 30, 90)).save(path, "PNG")
    return path


def attachment_rows(user_id: int) -> list[Any]:
    from messaging.models import Attachment as AttachmentRow

    return list(AttachmentRow.objects.filter(uploader_id=user_id).order_by("pk"))


def test_a_message_with_files_reaches_the_peer_whose_sdk_downloads_the_file_and_the_thumbnail(
    daphne, celery_worker, alice, bob, tmp_path
):
    picture = png(tmp_path / "photo.png")
    notes = tmp_path / "notes.txt"
    notes.write_bytes("notes ✓\n".encode() * 40_000)  # 360 KB: several progress events
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        sender = ChatClient(base_url(daphne), alice.token)
        receiver = ChatClient(base_url(daphne), bob.token)
        sent_events, got_events = collect(sender), collect(receiver)
        async with sender, receiver:
            await asyncio.gather(sender.ready(15), receiver.ready(15))
            message = await sender.send(bob.id, "", files=[picture, notes])
            await until(lambda: received(got_events))
            (got,) = [e.message for e in got_events if isinstance(e, MessageReceived)]
            image, file = got.attachments
            outcome["thumbnail"] = await receiver.download(image, thumbnail=True)
            outcome["image"] = await receiver.download(image)
            outcome["file"] = await receiver.download_to(file, tmp_path / "downloads")
            with pytest.raises(ChatError) as no_thumbnail:
                await receiver.download(file, thumbnail=True)
            assert no_thumbnail.value.code == "not_found"
            history = await receiver.history(message.conversation_id)
            synced = await receiver.rest.sync(0)
        assert got == message and got.content == ""
        assert [(a.kind, a.name) for a in got.attachments] == [("image", "photo.png"), ("file", "notes.txt")]
        assert (image.width, image.height) == (800, 600) and file.thumbnail_url is None
        assert history.results[-1].attachments == message.attachments
        assert [m.attachments for m in synced.results if m.msg_id == message.msg_id] == [message.attachments]
        progress = [e for e in sent_events if isinstance(e, UploadProgress)]
        of_notes = [e.sent for e in progress if e.path == str(notes)]
        assert len(of_notes) > 3 and of_notes == sorted(of_notes) and of_notes[-1] == progress[-1].total
        outcome["file_attachment"] = file

    (tmp_path / "downloads").mkdir()
    run(scenario())
    from PIL import Image

    thumbnail = Image.open(io.BytesIO(outcome["thumbnail"]))
    assert max(thumbnail.size) <= 320 and thumbnail.size[0] > thumbnail.size[1]
    assert Image.open(io.BytesIO(outcome["image"])).size == (800, 600)
    assert outcome["file"] == tmp_path / "downloads" / "notes.txt"
    assert outcome["file"].read_bytes() == notes.read_bytes()


def test_a_cancelled_upload_leaves_nothing_stored_and_nothing_attached(daphne, celery_worker, alice, bob, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 * 1024 * 1024))

    async def scenario() -> None:
        async with ChatClient(base_url(daphne), alice.token) as client:
            await client.ready(15)

            def stop_early(sent: int, total: int) -> None:
                if sent > 256 * 1024:
                    raise UploadCancelled()

            with pytest.raises(UploadCancelled):
                await client.upload(big, stop_early)

            def cancel_the_send(event: UploadProgress) -> None:
                if event.sent > 256 * 1024:
                    client.cancel(event.client_msg_id)

            client.on("upload", cancel_the_send)
            with pytest.raises(UploadCancelled):
                await client.send(bob.id, "never sent", files=[big])
            assert client.outbox == []
            await asyncio.sleep(1.0)  # an upload the server still held would be stored by now

    run(scenario())
    assert attachment_rows(alice.id) == []
    assert stored(alice.id) == []


def test_a_send_retried_after_its_ack_was_lost_attaches_its_file_once(daphne, celery_worker, alice, bob, tmp_path):
    picture = png(tmp_path / "once.png", 64, 64)
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        relay = Relay(daphne.port)
        port = await relay.start()
        client = ChatClient(f"http://127.0.0.1:{port}", alice.token, min_reconnect_delay=0.1, max_reconnect_delay=1)
        # The socket goes through the relay, REST (the upload) straight to daphne.
        await client.rest.aclose()
        client.rest = Rest(base_url(daphne), alice.token)
        send_frame = client._send_frame

        async def recording(frame: dict[str, Any]) -> bool:
            if frame["type"] == "send":
                outcome.setdefault("sends", []).append(frame)
            return await send_frame(frame)

        client._send_frame = recording  # type: ignore[method-assign]
        async with client:
            await client.ready(15)
            relay.mute = True  # the server's answers on the socket vanish from here on
            sending = asyncio.ensure_future(client.send(bob.id, "once", files=[picture]))
            direct = Rest(base_url(daphne), bob.token)
            while not [m for m in (await direct.sync(0)).results if m.content == "once"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            outcome["history"] = (await direct.sync(0)).results
            await direct.aclose()
            assert not sending.done(), "the ack was swallowed"
            relay.cut()
            outcome["message"] = await asyncio.wait_for(sending, 30)
        await relay.close()

    run(scenario())
    message = outcome["message"]
    (row,) = stored(alice.id, "once")
    (upload,) = attachment_rows(alice.id)
    assert message.msg_id == row.msg_id and upload.message_id == row.msg_id
    assert [a.attachment_id for a in message.attachments] == [upload.pk]
    sends = outcome["sends"]
    assert len(sends) == 2, "sent again after the reconnect"
    assert {(f["client_msg_id"], tuple(f["attachments"])) for f in sends} == {(message.client_msg_id, (upload.pk,))}


def test_a_file_over_the_servers_limit_is_refused_before_it_is_uploaded(start_daphne, alice, bob, tmp_path):
    limit = 20_000
    server = start_daphne(CHAT_ATTACHMENT_MAX_BYTES=str(limit), CHAT_MEDIA_ROOT=str(tmp_path / "media"))
    too_big, just_right = a_file(tmp_path, limit + 1, "too-big.bin"), a_file(tmp_path, limit, "just-right.bin")

    async def scenario() -> None:
        # Told nothing: the limit the server publishes decides, before a byte is sent.
        rest = Rest(f"http://{server.address}", alice.token)
        progress: list[int] = []
        with pytest.raises(AttachmentTooLarge) as published:
            await rest.upload(too_big, lambda sent, total: progress.append(sent))
        assert (published.value.size, published.value.limit, published.value.status) == (limit + 1, limit, None)
        assert progress == [], "not a byte sent"
        assert (await rest.upload(just_right)).size == limit
        await rest.aclose()

        async with ChatClient(f"http://{server.address}", alice.token) as client:
            await client.ready(15)
            with pytest.raises(AttachmentTooLarge) as at_once:
                await client.send(bob.id, "", files=[too_big])
            assert (at_once.value.size, at_once.value.limit, at_once.value.status) == (limit + 1, limit, None)
            assert client.outbox == []

        # Told a larger limit: it replaces the published one, and the server's 413 teaches the client.
        told = Rest(f"http://{server.address}", alice.token, max_upload_bytes=10 * limit)
        with pytest.raises(AttachmentTooLarge) as by_the_server:
            await told.upload(too_big)
        assert by_the_server.value.status == 413
        progress.clear()
        with pytest.raises(AttachmentTooLarge) as by_the_client:
            await told.upload(too_big, lambda sent, total: progress.append(sent))
        assert by_the_client.value.status is None and progress == [], "not a byte sent"
        await told.aclose()

    run(scenario())
    assert [row.size for row in attachment_rows(alice.id)] == [limit]


def test_the_cli_sends_a_file_shows_it_and_downloads_it(
    daphne, celery_worker, alice, bob, tmp_path, capsys, monkeypatch
):
    config = str(tmp_path / "cli.json")
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    assert cli(["--config", config, "login", "--server", base_url(daphne), "alice"]) == 0
    report = tmp_path / "report.txt"
    report.write_bytes(b"quarterly numbers\n" * 20_000)
    capsys.readouterr()

    assert cli(["--config", config, "send", str(bob.id), "the report", "--file", str(report)]) == 0
    captured = capsys.readouterr()
    (row,) = stored(alice.id, "the report")
    (upload,) = attachment_rows(alice.id)
    assert upload.message_id == row.msg_id and upload.name == "report.txt"
    assert f"[file {upload.pk}: report.txt, 352 KiB]" in captured.out
    assert "uploading report.txt: 100%" in captured.err

    assert cli(["--config", config, "history", str(row.session_id)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"me: the report [file {upload.pk}: report.txt, 352 KiB]")

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    assert cli(["--config", config, "download", str(upload.pk), "-o", str(downloads)]) == 0
    assert (downloads / "report.txt").read_bytes() == report.read_bytes()
    with pytest.raises(SystemExit) as nothing_to_send:
        cli(["--config", config, "send", str(bob.id)])
    assert "--file PATH" in str(nothing_to_send.value)


@pytest.mark.unit
def test_disconnect_pauses_an_upload_which_starts_again_after_the_next_connect(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        async def on_send(ws: Any, frame: dict[str, Any]) -> None:
            await ws.send(acked(frame))

        server.on_send = on_send
        server.upload_delay = 0.5
        client = server.client()
        events = collect(client)
        await client.connect()
        await client.ready(5)
        entry = client.queue(7, "", files=[a_file(tmp_path, 10)])
        await until(lambda: server.log == ["upload started"])
        await client.disconnect()
        assert [e.files for e in client.outbox] == [entry.files] and server.uploads == []
        assert not [e for e in events if isinstance(e, SendFailed)], "paused, not failed"
        server.upload_delay = 0
        await client.connect()
        message = await client.wait_ack(entry.client_msg_id)
        assert [a.attachment_id for a in message.attachments] == [55]
        await client.aclose()

    run_uploading(scenario)


@pytest.mark.unit
def test_uploads_failing_in_a_row_on_one_socket_fail_the_send_and_a_new_socket_counts_again(tmp_path):
    async def scenario(server: UploadingServer) -> None:
        client = server.client(min_reconnect_delay=0.01, max_reconnect_delay=0.02)
        await client.connect()
        await client.ready(5)
        server.upload_failures = [httpx.ReadError("reset")] * 10
        with pytest.raises(ChatError) as failed:
            await client.send(7, "", files=[a_file(tmp_path, 10)])
        assert failed.value.code == "network_error" and client.outbox == []
        assert server.log == ["upload started"] * 5, "five attempts, then the send fails"

        # Four failures, the socket lost and found again, four more: the count started again.
        server.log.clear()
        server.upload_failures = [httpx.ReadError("reset")] * 8

        async def on_send(ws: Any, frame: dict[str, Any]) -> None:
            await ws.send(acked(frame))

        async def lose_the_socket_after_four() -> None:
            if len(server.log) == 4 and len(server.connections) == 1:
                await server.connections[-1].close(1011, "a new socket")
                # This attempt fails once the client is connected on the new socket.
                await until(lambda: len(server.connections) == 2 and client.state == "connected")

        server.on_send = on_send
        server.before_upload = lose_the_socket_after_four
        message = await client.send(7, "", files=[a_file(tmp_path, 10)])
        assert server.log == ["upload started"] * 9 + ["upload 55"] and len(server.connections) == 2
        assert [a.attachment_id for a in message.attachments] == [55]
        await client.aclose()

    run_uploading(scenario)


def test_a_file_the_server_refuses_by_its_declared_length_fails_its_send(start_daphne, alice, bob, tmp_path):
    """Over CHAT_ATTACHMENT_MAX_BYTES + 64 KiB the server answers 413 as soon as the headers are in and
    closes the connection, which an HTTP client still sending the body may see as a reset, not a 413:
    the queued send fails either way, it is not retried forever."""
    server = start_daphne(CHAT_ATTACHMENT_MAX_BYTES="20000", CHAT_MEDIA_ROOT=str(tmp_path / "media"))
    big = a_file(tmp_path, 3_000_000, "big.bin")

    async def scenario() -> None:
        # A limit of its own, larger than the file, replaces the published one: the file goes to the server.
        client = ChatClient(
            f"http://{server.address}",
            alice.token,
            min_reconnect_delay=0.05,
            max_reconnect_delay=0.2,
            max_upload_bytes=10_000_000,
        )
        async with client:
            await client.ready(15)
            with pytest.raises(ChatError) as failed:
                await client.send(bob.id, "", files=[big])
            assert failed.value.code in ("payload_too_large", "network_error")
            assert client.outbox == []

    run(scenario())
    assert attachment_rows(alice.id) == [] and stored(alice.id) == []
