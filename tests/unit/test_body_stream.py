"""A body daphne keeps in a file reaches the application lazily, 64 KiB at a time (chat_project/body_limit.py)."""

import asyncio
import io

import pytest

from chat_project.body_limit import BODY_CHUNK, BODY_FILE, BodyLimitMiddleware
from chat_project.common import ranges

pytestmark = pytest.mark.unit


def run(body_file, queued: list[dict], limit: int = 10 * 1024 * 1024) -> tuple[list[dict], list[dict]]:
    """Messages the application received, and what was sent back, for one request."""
    received: list[dict] = []
    sent: list[dict] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        return queued.pop(0) if queued else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/api/v1/attachments", "headers": [], "extensions": {BODY_FILE: body_file}}
    asyncio.run(BodyLimitMiddleware(app, limit)(scope, receive, send))
    return received, sent


def test_the_body_is_read_from_the_file_in_chunks_after_daphnes_empty_message():
    data = bytes(range(256)) * 1000  # 256,000 bytes
    received, sent = run(io.BytesIO(data), [{"type": "http.request", "body": b"", "more_body": False}])
    assert b"".join(m["body"] for m in received) == data
    assert all(len(m["body"]) <= BODY_CHUNK for m in received)
    assert [m["more_body"] for m in received] == [True] * 3 + [False]
    assert sent[0]["status"] == 200


def test_a_client_gone_before_the_app_starts_is_a_disconnect():
    received, _ = run(io.BytesIO(b"x" * 1000), [{"type": "http.disconnect"}])
    assert received == [{"type": "http.disconnect"}]


def test_a_file_closed_meanwhile_is_a_disconnect():
    closed = io.BytesIO(b"x" * 1000)
    closed.close()
    received, _ = run(closed, [{"type": "http.request", "body": b"", "more_body": False}])
    assert received == [{"type": "http.disconnect"}]


def test_the_limit_still_counts_a_body_read_from_the_file():
    received, sent = run(io.BytesIO(b"x" * 300_000), [{"type": "http.request", "body": b"", "more_body": False}], 1000)
    assert sent[0]["status"] == 413
    assert received[-1] == {"type": "http.disconnect"}


@pytest.mark.parametrize(
    "header, size, expected",
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("BYTES = 1-2", 10, (1, 2)),
        ("bytes=0-1,3-4", 10, None),
        ("lines=0-1", 10, None),
        ("bytes=4-2", 10, None),
        ("bytes=-", 10, None),
        ("bytes=x-1", 10, None),
        ("bytes=" + "1" * 30 + "-", 10, None),
    ],
)
def test_byte_range(header, size, expected):
    assert ranges.byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(ranges.Unsatisfiable):
        ranges.byte_range(header, 10)


def test_if_range_with_another_etag_means_the_whole_file():
    assert ranges.byte_range("bytes=0-1", 10, '"old"', '"new"') is None
    assert ranges.byte_range("bytes=0-1", 10, '"new"', '"new"') == (0, 1)
