"""ASGI middleware: refuse request bodies over a size limit without reading them whole.

Django's ASGI handler reads the whole body before any Django middleware runs,
so the limit has to sit in front of it. A request whose ``Content-Length`` is
over the limit is answered 413 at once, its body never read; a body without
one (chunked) is counted as ``http.request`` messages arrive, and the first
message past the limit ends it: the application is told the client left
(``http.disconnect``, on which Django stops quietly) and the middleware
answers 413 itself. The rest of the body is never read.

The limit is per path prefix (longest prefix wins, ``default`` otherwise), so
one endpoint, e.g. a future avatar upload, can take more than the rest.

daphne itself receives the whole body before it starts the application, then
queues all of it at once as ``http.request`` messages, so in daphne the
middleware alone would still hold every byte in memory.
``cap_daphne_request_bodies`` makes daphne keep only the first ``largest + 1``
bytes of any body and discard the rest as it arrives: memory and disk stay
bounded, and the middleware still sees more than the limit and answers 413.
Twisted keeps a body of 100 kB or more in a temporary file, but daphne would
then read all of it into its queue at once: a 25 MiB upload held whole in
memory. ``cap_daphne_request_bodies`` hands such a file to the application
instead (the scope extension ``chat.body_file``), and the middleware reads
it 64 KiB per ``http.request`` message as the application asks: Django
spools the body to disk past FILE_UPLOAD_MAX_MEMORY_SIZE, so an upload never
sits whole in memory anywhere. Given the middleware's ``limit_for``, it also answers a ``Content-Length``
over the path's limit with 413 as soon as the headers are in, then shuts its
side of the connection and drops the body as it arrives (a lingering close,
``_linger``: a client that sends the whole body before reading still reads
the 413); a chunked body is only counted as it arrives, and answered once it
ends. A reverse proxy in front
(nginx ``client_max_body_size``) should refuse such uploads early too.
"""

import json
from collections.abc import Callable
from io import BytesIO
from typing import Any, cast
from urllib.parse import unquote, urlsplit

PAYLOAD_TOO_LARGE = 413


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(self, app, default: int, by_prefix: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        # Longest prefix first, so "/api/v1/me/avatar" beats "/api/".
        self.by_prefix = sorted((by_prefix or {}).items(), key=lambda item: len(item[0]), reverse=True)

    @property
    def largest(self) -> int:
        return max([self.default, *(limit for _, limit in self.by_prefix)])

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.by_prefix if path.startswith(prefix)), self.default)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_file = scope.get("extensions", {}).get(BODY_FILE)
        if body_file is not None:
            receive = _read_lazily(receive, body_file)
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit)
            return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive():
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal response_started
            if too_large and not response_started:
                return  # the 413 below is the answer
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if too_large and not response_started:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope, send, limit: int) -> None:
        content_type, body = refusal(scope["path"], limit)
        await send(
            {
                "type": "http.response.start",
                "status": PAYLOAD_TOO_LARGE,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    # The unread rest of the body makes the connection unusable for another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


BODY_FILE = "chat.body_file"
BODY_CHUNK = 64 * 1024


def _read_lazily(receive, body_file):
    """``receive`` with the body read from ``body_file`` chunk by chunk, when asked for.

    daphne queued one empty ``http.request`` for it (the file was hidden from
    its loop); that message is taken first, so a disconnect that came before is seen.
    """
    state = {"started": False, "done": False}

    async def lazy_receive():
        if state["done"]:
            return await receive()
        if not state["started"]:
            state["started"] = True
            message = await receive()
            if message["type"] != "http.request":
                state["done"] = True
                return message
        try:
            data = body_file.read(BODY_CHUNK)
        except ValueError:  # closed: the client went away and Twisted cleaned up
            state["done"] = True
            return {"type": "http.disconnect"}
        more = len(data) == BODY_CHUNK
        state["done"] = not more
        return {"type": "http.request", "body": data, "more_body": more}

    return lazy_receive


class _HiddenBody:
    """What daphne's loop sees of a body kept in a file: nothing (it is read lazily, see above)."""

    def __init__(self, real) -> None:
        self.real = real

    @property
    def closed(self) -> bool:
        return self.real.closed

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.real.seek(offset, whence)

    def tell(self) -> int:
        return self.real.tell()

    def close(self) -> None:
        self.real.close()


def refusal(path: str, limit: int) -> tuple[bytes, bytes]:
    """The 413's content type and body: PROTOCOL.md's error shape under /api/, plain text elsewhere."""
    detail = f"The request body is larger than {limit} bytes."
    if path.startswith("/api/"):
        return b"application/json", json.dumps({"code": "payload_too_large", "detail": detail}).encode()
    return b"text/plain; charset=utf-8", detail.encode()


LINGER_SECONDS = 10


def _linger(transport) -> None:
    """Close after a 413 the way the client can read it: stop writing, drop what it still sends.

    Clients (httpx, fetch, browsers) send the whole body before they read the
    answer. Closing a socket that still has unread bytes makes the kernel
    reset the connection, and the client sees the reset, not the 413. So the
    write side is shut (the answer, then FIN), the body's bytes are read and
    dropped (``handleContentChunk``), and the connection is aborted after
    LINGER_SECONDS in case the client never stops (nginx's lingering close).
    """
    from twisted.internet import reactor

    if not hasattr(transport, "loseWriteConnection"):
        transport.loseConnection()
        return
    transport.loseWriteConnection()
    # cast: Twisted's zope-declared IReactorTime reads to mypy as if callLater had no self.
    cast(Any, reactor).callLater(LINGER_SECONDS, lambda: transport.connected and transport.abortConnection())


def cap_daphne_request_bodies(cap: int, limit_for: Callable[[str], int] | None = None) -> None:
    """Make daphne keep at most ``cap + 1`` bytes of a request body (see the module docstring).

    With ``limit_for`` (path -> limit), a declared ``Content-Length`` over the
    path's limit is answered 413 before any of the body is read.
    """
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server streams the body; the middleware is enough
        return
    original = getattr(WebRequest, "_chat_original_handle_content_chunk", WebRequest.handleContentChunk)
    original_got_length = getattr(WebRequest, "_chat_original_got_length", WebRequest.gotLength)

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
        original_got_length(self, length)
        if length is None or limit_for is None:
            return
        path = unquote(urlsplit(getattr(self.channel, "_path", b"") or b"").path.decode("latin-1"))
        limit = limit_for(path)
        if length <= limit:
            return
        self._chat_refused = True
        # No "100 Continue" for a body that will never be read.
        self.requestHeaders.removeHeader(b"Expect")
        content_type, body = refusal(path, limit)
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: "
            + content_type
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        _linger(self.channel.transport)

    WebRequest._chat_original_got_length = original_got_length
    WebRequest.gotLength = gotLength

    from daphne.server import Server

    original_process = getattr(WebRequest, "_chat_original_process", WebRequest.process)
    original_create = getattr(Server, "_chat_original_create_application", Server.create_application)

    def process(self):
        if getattr(self, "_chat_refused", False):
            return None  # answered 413 when its length came; its body was dropped as it arrived
        # A body in a temporary file (Twisted's choice from 100 kB) is read by the middleware, lazily.
        content = self.content
        if content is not None and not isinstance(content, BytesIO) and not content.closed:
            self.content = _HiddenBody(content)
        return original_process(self)

    def create_application(self, protocol, scope):
        hidden = getattr(protocol, "content", None)
        if isinstance(hidden, _HiddenBody) and scope.get("type") == "http":
            scope = {**scope, "extensions": {**scope.get("extensions", {}), BODY_FILE: hidden.real}}
        return original_create(self, protocol, scope)

    WebRequest._chat_original_process = original_process
    WebRequest.process = process
    Server._chat_original_create_application = original_create
    Server.create_application = create_application

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if getattr(self, "_chat_refused", False):
            return
        kept = getattr(self, "_chat_body_kept", 0)
        room = cap + 1 - kept
        if room > 0:
            piece = data[:room]
            self._chat_body_kept = kept + len(piece)
            original(self, piece)

    WebRequest._chat_original_handle_content_chunk = original
    WebRequest.handleContentChunk = handleContentChunk

    # Twisted would also parse every multipart/form-data (and form) body into
    # request.args, which daphne never reads: a second copy of an upload in
    # memory, and a malformed body answered with an empty 400 before the
    # application sees it. Django parses the body itself (POST me/avatar).
    original_init = getattr(WebRequest, "_chat_original_init", WebRequest.__init__)

    def __init__(self, *args, **kwargs) -> None:  # noqa: N807 - installed as WebRequest.__init__
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest._chat_original_init = original_init
    WebRequest.__init__ = __init__
