"""A socket's inbox (common/slim_queue.py) and daphne's use of it (chat_project/daphne_sockets.py).

The whole end-to-end suite runs through both on real daphnes; these pin the
queue's contract and what an idle socket's inbox holds.
"""

import asyncio
import sys
import tracemalloc

import pytest

from chat_project.common.slim_queue import SlimQueue
from chat_project.daphne_sockets import release_upgrade_request, start_socket_application

pytestmark = pytest.mark.unit


def run(coroutine):
    return asyncio.run(coroutine)


def test_items_come_out_in_the_order_they_went_in():
    async def scenario() -> list:
        inbox = SlimQueue()
        for item in ("connect", "a", "b"):
            inbox.put_nowait(item)
        assert inbox.qsize() == 3 and not inbox.empty()
        return [await inbox.get(), inbox.get_nowait(), await inbox.get()]

    assert run(scenario()) == ["connect", "a", "b"]


def test_a_waiting_reader_wakes_when_an_item_arrives():
    async def scenario() -> str:
        inbox = SlimQueue()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        assert not reader.done()
        asyncio.get_running_loop().call_later(0.01, inbox.put_nowait, "frame")
        return await asyncio.wait_for(reader, 1)

    assert run(scenario()) == "frame"


def test_on_put_sees_each_item_as_it_is_put_before_any_reader_does():
    def stamp(event: dict) -> None:
        event["queued_behind"] = inbox.qsize()

    inbox = SlimQueue()
    inbox.on_put = stamp
    inbox.put_nowait({"type": "websocket.connect"})
    inbox.put_nowait({"type": "websocket.receive"})
    assert inbox.get_nowait() == {"type": "websocket.connect", "queued_behind": 0}
    assert inbox.get_nowait() == {"type": "websocket.receive", "queued_behind": 1}


def test_an_empty_inbox_says_so():
    inbox = SlimQueue()
    assert inbox.empty() and inbox.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        inbox.get_nowait()
    inbox.put_nowait(1)
    inbox.get_nowait()
    assert inbox.empty() and inbox.qsize() == 0


def test_a_cancelled_reader_leaves_the_inbox_usable():
    async def scenario() -> str:
        inbox = SlimQueue()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        inbox.put_nowait("after")
        return await asyncio.wait_for(inbox.get(), 1)

    assert run(scenario()) == "after"


def test_a_second_reader_while_one_waits_is_refused_at_once():
    async def scenario() -> None:
        inbox = SlimQueue()
        first = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await inbox.get()
        inbox.put_nowait("for the first")
        assert await asyncio.wait_for(first, 1) == "for the first"

    run(scenario())


def test_an_idle_inbox_holds_a_fraction_of_an_asyncio_queue():
    def held(make) -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [make() for _ in range(1000)]
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(kept) == 1000
        return (after - before) // 1000

    async def both() -> tuple[int, int]:
        return held(SlimQueue), held(asyncio.Queue)

    slim, standard = run(both())
    assert slim <= sys.getsizeof(SlimQueue()) + 16 < standard // 10


# --- daphne ---------------------------------------------------------------------------


class Server:
    """The part of daphne's Server that create_application uses."""

    def __init__(self) -> None:
        self.connections: dict = {}
        self.started: list = []

    async def application(self, scope, receive, send):
        self.started.append(scope)
        return await receive()

    async def handle_reply(self, protocol, message):
        return None


def test_a_socket_application_reads_its_frames_from_a_slim_inbox():
    async def scenario() -> None:
        server, protocol = Server(), object()
        server.connections[protocol] = {"connected": 0}
        inbox = start_socket_application(server, protocol, {"type": "websocket"})
        assert isinstance(inbox, SlimQueue)
        inbox.put_nowait({"type": "websocket.connect"})
        instance = server.connections[protocol]["application_instance"]
        assert await asyncio.wait_for(instance, 1) == {"type": "websocket.connect"}
        assert server.started == [{"type": "websocket", "asgi": {"version": "3.0"}}]

    run(scenario())


def test_no_application_starts_for_a_connection_already_gone():
    async def scenario() -> None:
        server = Server()
        assert start_socket_application(server, object(), {"type": "websocket"}) is None
        assert server.started == []

    run(scenario())


class Transport:
    def __init__(self, producer) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:  # noqa: N802 - Twisted's name
        self.producer = None


def test_the_upgraded_transport_lets_go_of_its_http_channel_and_of_nothing_else():
    channel, other = object(), object()
    upgraded = Transport(channel)
    release_upgrade_request(upgraded, channel)
    assert upgraded.producer is None
    streaming = Transport(other)
    release_upgrade_request(streaming, channel)
    assert streaming.producer is other
