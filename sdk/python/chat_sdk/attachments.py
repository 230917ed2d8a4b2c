"""Attachments (PROTOCOL.md 1.2) on the client side: the multipart body streamed from disk, the size check
before uploading, the ``Upload`` handle that cancels, and the rule for whom a download URL may be sent to.

The check before uploading uses the limit the server publishes (``GET attachments/limits``, an extension of
1.2: ``CHAT_ATTACHMENT_MAX_BYTES``), asked before the first upload and kept; a ``max_upload_bytes`` given to
the client replaces it. A server that does not publish it (or could not be asked) leaves the decision to its
413, and the client then refuses the smallest size the server has refused so far (a 413 for n bytes means n
is too many, whatever the limit).
"""

import asyncio
import email.message
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import AttachmentTooLarge, ChatError, InvalidAttachment, UploadCancelled
from .models import Attachment

CHUNK = 64 * 1024
ProgressCallback = Callable[[int, int], object]


class SizeCheck:
    """Refuses, before a byte is sent, a file the server would refuse for its size."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.refused_at: int | None = None  # the smallest size the server answered 413 to

    def check(self, size: int) -> None:
        if size == 0:
            raise InvalidAttachment("The file is empty.")
        if self.max_bytes is not None and size > self.max_bytes:
            raise AttachmentTooLarge(
                f"The file has {size} bytes, over the limit of {self.max_bytes}.", size=size, limit=self.max_bytes
            )
        if self.refused_at is not None and size >= self.refused_at:
            raise AttachmentTooLarge(
                f"The file has {size} bytes; the server refused {self.refused_at} as too large.", size=size
            )

    def refused(self, size: int) -> None:
        self.refused_at = size if self.refused_at is None else min(self.refused_at, size)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise InvalidAttachment(f"{path}: {exc.strerror or exc}") from exc


def _header_name(name: str) -> str:
    # A quoted-string in the part's header: no quote, backslash or line break can end it early.
    return "".join("_" if ch in '"\\\r\n' else ch for ch in name)


class MultipartFile:
    """``multipart/form-data`` with the one field ``file``, read from disk chunk by chunk as it is sent."""

    def __init__(self, path: Path, size: int, name: str | None = None, boundary: str | None = None) -> None:
        self.path, self.size = path, size
        self.boundary = boundary or os.urandom(16).hex()
        filename = _header_name(name if name is not None else path.name)
        self.head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(self.head) + size + len(self.tail)

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": f"multipart/form-data; boundary={self.boundary}", "Content-Length": str(self.length)}

    async def chunks(self, on_progress: ProgressCallback | None = None) -> AsyncIterator[bytes]:
        """The body; ``on_progress(sent, total)`` after each chunk handed to the network (raising
        ``UploadCancelled`` in it abandons the request)."""
        sent = 0

        def counted(chunk: bytes) -> bytes:
            nonlocal sent
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent, self.length)
            return chunk

        yield counted(self.head)
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            left = self.size
            while left > 0 and (chunk := await asyncio.to_thread(handle.read, min(CHUNK, left))):
                left -= len(chunk)
                yield counted(chunk)
        finally:
            handle.close()
        if left:
            # The file shrank while it was sent: the Content-Length promised more. Abandon, store nothing.
            raise InvalidAttachment(f"{self.path} changed while it was uploaded.")
        yield counted(self.tail)


class Upload:
    """A running upload: ``await upload`` for its Attachment, ``upload.cancel()`` to abandon it (the await
    then raises ``UploadCancelled``)."""

    def __init__(self, work: Awaitable[Attachment]) -> None:
        self._task: asyncio.Task[Attachment] = asyncio.ensure_future(work)
        self._cancelled = False

    def cancel(self) -> bool:
        """Abandon the upload; False when it had already finished."""
        if self._task.done():
            return False
        self._cancelled = True
        return self._task.cancel()

    def done(self) -> bool:
        return self._task.done()

    async def result(self) -> Attachment:
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._cancelled and self._task.cancelled():
                raise UploadCancelled() from None
            raise

    def __await__(self) -> Generator[Any, None, Attachment]:
        return self.result().__await__()


def attachment_path(attachment: Attachment | int, thumbnail: bool = False) -> str:
    """The path of an attachment's bytes (or its thumbnail's) relative to ``/api/v1/``."""
    if isinstance(attachment, int):
        return f"attachments/{attachment}" + ("/thumbnail" if thumbnail else "")
    url = attachment.thumbnail_url if thumbnail else attachment.url
    if not url:
        raise ChatError("not_found", f"attachment {attachment.attachment_id} ({attachment.kind}) has no thumbnail")
    return url


def absolute_url(base_url: str, api_root: str, path: str) -> str:
    """The URL of ``path`` (an Attachment's ``url``, "/api/v1/…", or one relative to ``api_root``). A URL on
    another origin than the server's is refused: the token would go with it."""
    url = urljoin(base_url.rstrip("/") + "/", path) if path.startswith("/") or "://" in path else api_root + path
    server, target = urlsplit(base_url), urlsplit(url)
    if (server.scheme, server.netloc) != (target.scheme, target.netloc):
        raise ChatError("invalid_url", f"{url} is not on the server {base_url}: its token is not sent there")
    return url


def download_name(content_disposition: str | None) -> str | None:
    """The file name a download's ``Content-Disposition`` gives (``filename*`` or ``filename``), with no path."""
    if not content_disposition:
        return None
    parsed = email.message.Message()
    parsed["Content-Disposition"] = content_disposition
    name = parsed.get_filename()
    if not name:
        return None
    name = Path(name.replace("\\", "/")).name
    return None if name in ("", ".", "..") else name
