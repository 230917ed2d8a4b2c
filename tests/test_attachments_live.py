"""Attachments through a real daphne: the body limit before the body is read, a cut-off upload, memory.

Each test starts its own daphne with its own CHAT_MEDIA_ROOT, so the files it
stores (or does not) are its own.
"""

import asyncio
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import requests

from messaging.models import Attachment

MiB = 1024 * 1024
BOUNDARY = "chatboundary7MA4YWxkTrZu0gW"


@pytest.fixture
def server(start_daphne, tmp_path):
    media = tmp_path / "media"
    return start_daphne(CHAT_MEDIA_ROOT=str(media)), media


def multipart_head(size: int, name: str = "big.bin") -> tuple[bytes, bytes]:
    """The framing before and after a file of ``size`` bytes in field ``file``."""
    before = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return before, f"\r\n--{BOUNDARY}--\r\n".encode()


def request_head(address: str, token: str, length: int) -> bytes:
    return (
        "POST /api/v1/attachments HTTP/1.1\r\n"
        f"Host: {address}\r\n"
        f"Authorization: Token {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def files_in(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


@pytest.mark.e2e
def test_a_declared_length_over_the_limit_is_413_before_the_body_is_sent(server, alice, settings):
    daphne, media = server
    limit = settings.CHAT_ATTACHMENT_MAX_BYTES + 64 * 1024
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as conn:
        conn.sendall(request_head(daphne.address, alice.token, limit + 1))  # headers only, no body byte
        answer = conn.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert '"code": "payload_too_large"' in answer
    assert Attachment.objects.count() == 0 and files_in(media) == []


@pytest.mark.e2e
def test_a_client_that_sends_the_whole_body_still_reads_the_413(start_daphne, alice, tmp_path):
    """Most clients (requests, httpx, fetch, browsers) send the body before they read: the server
    must read and drop it after its 413 (a lingering close), or its close with unread bytes resets
    the connection and the client sees a reset instead of the answer."""
    media = tmp_path / "media"
    daphne = start_daphne(CHAT_MEDIA_ROOT=str(media), CHAT_ATTACHMENT_MAX_BYTES="20000")
    before, after = multipart_head(5 * MiB)
    chunk = os.urandom(64 * 1024)

    async def body():  # streamed in 64 KiB pieces, as the SDKs upload
        yield before
        for _ in range(5 * MiB // len(chunk)):
            yield chunk
        yield after

    async def upload() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"http://{daphne.address}/api/v1/attachments",
                headers={
                    "Authorization": f"Token {alice.token}",
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                    "Content-Length": str(len(before) + 5 * MiB + len(after)),
                },
                content=body(),
            )

    for _ in range(3):
        response = asyncio.run(upload())
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
    assert Attachment.objects.count() == 0 and files_in(media) == []


@pytest.mark.e2e
def test_an_upload_cut_off_halfway_stores_nothing(server, alice):
    daphne, media = server
    before, after = multipart_head(4 * MiB)
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as conn:
        conn.sendall(request_head(daphne.address, alice.token, len(before) + 4 * MiB + len(after)))
        conn.sendall(before + b"x" * (2 * MiB))  # half the file, then the client goes away
    time.sleep(1.0)
    assert Attachment.objects.count() == 0 and files_in(media) == []
    # The server is fine: the next upload is stored.
    response = requests.post(
        f"http://{daphne.address}/api/v1/attachments",
        headers={"Authorization": f"Token {alice.token}"},
        files={"file": ("ok.txt", b"fine")},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert Attachment.objects.count() == 1


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_memory_of_a_25_mib_upload(server, alice, tmp_path, settings):
    """Prints daphne's resident memory around a 25 MiB upload (README, "Attachments")."""
    daphne, media = server
    size = settings.CHAT_ATTACHMENT_MAX_BYTES
    upload = tmp_path / "upload.bin"
    with upload.open("wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))
    headers = {"Authorization": f"Token {alice.token}"}
    url = f"http://{daphne.address}/api/v1/attachments"
    # Warm up (imports, connections), then measure one large upload.
    assert requests.post(url, headers=headers, files={"file": ("a.txt", b"warm")}, timeout=10).status_code == 201
    before = rss_kib(daphne.proc.pid)
    with upload.open("rb") as body:
        response = requests.post(url, headers=headers, files={"file": ("big.bin", body)}, timeout=60)
    assert response.status_code == 201, response.text
    after = rss_kib(daphne.proc.pid)
    assert response.json()["size"] == size
    stored = [p for p in files_in(media) if p.stat().st_size == size]
    assert len(stored) == 1
    growth = after["VmHWM"] - before["VmRSS"]
    figure = f"daphne RSS before {before['VmRSS']} KiB, peak after {after['VmHWM']} KiB: +{growth / 1024:.1f} MiB"
    print(figure)  # noqa: T201 - the figure README quotes (pytest -s)
    # Streamed through (body_limit.py reads daphne's body file lazily): far below the upload's 25 MiB.
    # Before that, daphne queued the whole body: +27 MiB.
    assert growth < 8 * 1024, figure


@pytest.mark.e2e
def test_a_stream_that_turns_out_larger_is_413_and_stores_nothing(start_daphne, alice, tmp_path):
    media = tmp_path / "media"
    daphne = start_daphne(CHAT_MEDIA_ROOT=str(media), CHAT_ATTACHMENT_MAX_BYTES=str(MiB))
    url = f"http://{daphne.address}/api/v1/attachments"
    headers = {"Authorization": f"Token {alice.token}"}
    # Chunked, no Content-Length: counted as it arrives, refused past the body limit (1 MiB + 64 KiB).
    before, after = multipart_head(2 * MiB)

    def chunked():
        yield before
        for _ in range(8):
            yield b"y" * (MiB // 4)
        yield after

    response = requests.post(
        url,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        data=chunked(),
        timeout=30,
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    # Within the body limit, over the file limit: the view's 413.
    response = requests.post(url, headers=headers, files={"file": ("a.bin", b"z" * (MiB + 1))}, timeout=30)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert Attachment.objects.count() == 0 and files_in(media) == []


@pytest.mark.e2e
def test_downloads_through_daphne_ranges_head_and_not_modified(server, alice):
    daphne, _ = server
    headers = {"Authorization": f"Token {alice.token}"}
    base = f"http://{daphne.address}"
    data = os.urandom(300_000)
    body = requests.post(
        f"{base}/api/v1/attachments", headers=headers, files={"file": ("r.bin", data)}, timeout=10
    ).json()
    url = base + body["url"]
    whole = requests.get(url, headers=headers, timeout=10)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Disposition"] == 'attachment; filename="r.bin"'
    part = requests.get(url, headers={**headers, "Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["Content-Range"] == "bytes 1000-1999/300000"
    head = requests.head(url, headers=headers, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "300000" and head.content == b""
    cached = requests.get(url, headers={**headers, "If-None-Match": whole.headers["ETag"]}, timeout=10)
    assert cached.status_code == 304 and cached.content == b""
    past = requests.get(url, headers={**headers, "Range": "bytes=300000-"}, timeout=10)
    assert past.status_code == 416 and past.headers["Content-Range"] == "bytes */300000"
