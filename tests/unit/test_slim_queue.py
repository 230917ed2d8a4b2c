"""A socket's inbox (common/slim_queue.py) and daphne's use of it (chat_project/daphne_sockets.py).

The whole end-to-end suite runs through both on real daphnes; these pin the
queue's contract and what an idle socket's inbox holds.
"""

import asyncio
import itertools
import sys
import tracemalloc

import pytest
from channels.exceptions import StopConsumer

from chat_project.common.slim_queue import SlimQueue, wait_either
from chat_project.daphne_sockets import release_upgrade_request, start_socket_application
from messaging.consumers import ChatConsumer

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


async def cancelled(task: asyncio.Task) -> None:
    """Cancel a task that waits on an inbox, and see it end cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


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
        await cancelled(reader)
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


# --- one waiter for a socket's two inboxes --------------------------------------------


def test_waiting_on_two_inboxes_ends_with_the_first_put_into_either():
    async def scenario() -> list[bool]:
        frames, events = SlimQueue(), SlimQueue()
        waiting = asyncio.create_task(wait_either(frames, events))
        await asyncio.sleep(0)
        assert not waiting.done()
        events.put_nowait("pushed")
        await asyncio.wait_for(waiting, 1)
        await wait_either(frames, events)  # an item is there: at once
        return [frames.empty(), events.empty()]

    assert run(scenario()) == [True, False]


def test_an_inbox_watched_by_the_pair_has_no_other_reader_and_is_free_again_after():
    async def scenario() -> str:
        frames, events = SlimQueue(), SlimQueue()
        waiting = asyncio.create_task(wait_either(frames, events))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await frames.get()
        await cancelled(waiting)
        frames.put_nowait("frame")
        return await asyncio.wait_for(frames.get(), 1)

    assert run(scenario()) == "frame"


class Consumer:
    """What ChatConsumer._dispatch_from uses of the consumer: dispatch, one event at a time."""

    def __init__(self, stop_after: int, clock=lambda: None) -> None:
        self.handled: list = []
        self.stop_after = stop_after
        self.clock = clock
        self.seen_at: list = []

    async def dispatch(self, message) -> None:  # never yields, as a handler that only starts a task
        self.handled.append(message)
        self.seen_at.append(self.clock())
        if len(self.handled) == self.stop_after:
            raise StopConsumer


class Layer:
    def deserialize(self, message: bytes) -> str:
        return message.decode()


def test_the_consumer_takes_turns_between_its_inboxes_and_keeps_each_ones_order():
    async def scenario() -> list:
        frames, events = SlimQueue(), SlimQueue()
        for i in range(3):
            frames.put_nowait(f"frame {i}")
        for i in range(2):
            events.put_nowait(f"event {i}".encode())
        consumer = Consumer(stop_after=6)
        loop = asyncio.create_task(ChatConsumer._dispatch_from(consumer, Layer(), frames, events))
        await asyncio.sleep(0.01)
        frames.put_nowait("frame 3")  # arrives while the loop waits
        with pytest.raises(StopConsumer):
            await asyncio.wait_for(loop, 1)
        return consumer.handled

    assert run(scenario()) == ["frame 0", "event 0", "frame 1", "event 1", "frame 2", "frame 3"]


def test_the_loop_turns_between_two_events_so_a_flood_cannot_hold_it():
    async def scenario() -> list:
        frames, events = SlimQueue(), SlimQueue()
        for i in range(5):
            frames.put_nowait(f"frame {i}")
        turns = 0

        async def another_socket() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(another_socket())
        consumer = Consumer(stop_after=5, clock=lambda: turns)
        with pytest.raises(StopConsumer):
            await ChatConsumer._dispatch_from(consumer, Layer(), frames, events)
        other.cancel()
        return consumer.seen_at

    seen_at = run(scenario())
    assert all(later > earlier for earlier, later in itertools.pairwise(seen_at)), seen_at


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
