"""Sending a message, for the REST API and the WebSocket consumer alike.

Both parse the input with ``messaging.inputs.SEND``; ``prepare_send`` adds
the rule that needs the sender (no I/O), then this process's
committer accepts it together with whatever else arrived meanwhile, in one
transaction (messaging/accept.py). The sender gets its answer only after the
commit; the fan-out runs on Celery (messaging/fanout.py). See
docs/architecture.md for why the database, not the broker, is the durable
point. A send the system cannot take now is refused before it queues
(messaging/admission.py).
"""

import asyncio
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings

from chat_project.common.errors import InvalidInput, Unavailable

from .accept import SendRequest, SendResult
from .admission import admission
from .committer import committer
from .inputs import Send

# How long past the accept deadline a caller waits for a batch already committing.
ANSWER_GRACE_SECONDS = 5


def prepare_send(sender_id: int, send: Send) -> SendRequest:
    """The parsed send, from this sender (PROTOCOL.md: not to oneself)."""
    if send.to == sender_id:
        raise InvalidInput.field("to", "You cannot send a message to yourself.")
    return SendRequest(sender_id, send.to, send.content, send.client_msg_id, send.reply_to, send.attachments)


def _timeout_error() -> Unavailable:
    return Unavailable(
        "The message could not be stored in time; send it again with the same client_msg_id"
        " (it is stored at most once)."
    )


def submit_send(sender_id: int, send: Send) -> Future:
    """Queue a send for the committer, or refuse it at once while the system is overloaded.

    Synchronous and without I/O, so that a socket's sends queue in the order they came.
    """
    request = prepare_send(sender_id, send)
    admission.check()
    return committer.submit(request)


def send_message(sender_id: int, send: Send) -> SendResult:
    """Accept a message durably; the same client_msg_id again returns the first message."""
    future = submit_send(sender_id, send)
    try:
        return future.result(timeout=settings.CHAT_ACCEPT_DEADLINE_SECONDS + ANSWER_GRACE_SECONDS)
    except FutureTimeout:
        raise _timeout_error() from None


async def sent(future: Future) -> SendResult:
    """The outcome of a submitted send, for the event loop: waits for the batch without holding a thread."""
    try:
        return await asyncio.wait_for(
            asyncio.wrap_future(future), timeout=settings.CHAT_ACCEPT_DEADLINE_SECONDS + ANSWER_GRACE_SECONDS
        )
    except TimeoutError:
        raise _timeout_error() from None
