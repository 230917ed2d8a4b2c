"""Let daphne send the close codes 1012 (a drained host) and 1013 (a process opening too many sockets).

RFC 6455 lets a server close with 1012 (IANA's registry: "Service Restart"),
the code clients read as "reconnect, the service restarts", and 1013 ("Try
Again Later"). daphne closes a socket through autobahn's ``sendClose``, which
lets an application send only 1000 and 3000-4999 and raises on anything else,
so the close never reaches the client. For these two alone this sends the
same close frame ``sendClose`` would have sent (``sendCloseFrame``, not as a
reply), without the check.
"""

from .common.limits import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER

# The codes of RFC 6455's registry this server closes with, which autobahn would refuse.
REGISTERED_CODES = frozenset({CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER})


def allow_registered_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server: its own rules
        return
    original = getattr(WebSocketProtocol, "_chat_original_server_close", WebSocketProtocol.serverClose)

    def serverClose(self, code=None) -> None:  # noqa: N802 - daphne's name
        if code in REGISTERED_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    WebSocketProtocol._chat_original_server_close = original
    WebSocketProtocol.serverClose = serverClose
