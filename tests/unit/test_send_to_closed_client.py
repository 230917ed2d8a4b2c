"""A frame for a client that closed while it was on its way is dropped; the consumer goes on to its disconnect.

In a reconnect storm a client that gives up waiting for ``ready`` closes
while its consumer still connects: daphne (autobahn) raises ``Disconnected``
on the send, which ended the consumer with "Exception inside application"
(seen in the idle phase's restart, 2026-12-07).
"""

import asyncio

import pytest
from autobahn.exception import Disconnected

from messaging.consumers import ChatConsumer

pytestmark = pytest.mark.unit


def consumer_whose_send(raises: Exception) -> ChatConsumer:
    consumer = ChatConsumer()

    async def send(message: dict) -> None:
        assert message["type"] == "websocket.send"
        raise raises

    consumer.base_send = send
    return consumer


def test_a_frame_to_a_client_that_closed_meanwhile_is_dropped():
    consumer = consumer_whose_send(Disconnected("Attempt to send on a closed protocol"))
    asyncio.run(consumer._send_frame({"type": "ready", "user_id": 1}))


def test_any_other_failure_of_a_send_still_raises():
    consumer = consumer_whose_send(ValueError("not a closed client"))
    with pytest.raises(ValueError, match="not a closed client"):
        asyncio.run(consumer._send_frame({"type": "ready", "user_id": 1}))
