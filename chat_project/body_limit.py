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
Bandwidth is not saved (daphne answers once the upload ends); a reverse proxy
in front (nginx ``client_max_body_size``) should refuse such uploads early.
"""

import json

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
        detail = f"The request body is larger than {limit} bytes."
        if scope["path"].startswith("/api/"):
            body = json.dumps({"code": "payload_too_large", "detail": detail}).encode()
            content_type = b"application/json"
        else:
            body = detail.encode()
            content_type = b"text/plain; charset=utf-8"
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


def cap_daphne_request_bodies(cap: int) -> None:
    """Make daphne keep at most ``cap + 1`` bytes of a request body (see the module docstring)."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server streams the body; the middleware is enough
        return
    original = getattr(WebRequest, "_chat_original_handle_content_chunk", WebRequest.handleContentChunk)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
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
