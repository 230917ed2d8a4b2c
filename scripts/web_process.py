"""One web process: daphne on a listening socket of its own, in a SO_REUSEPORT group on BIND:PORT.

Every daphne of a host listens on the same port, each on its own socket
(``SO_REUSEPORT``), and the kernel hands each new connection to one of them
by a hash of its addresses: the processes get an even share, whatever the
timing. With one socket shared by all of them (supervisord's
``fcgi-program``, the first version), whichever process was idle in
``accept`` took the connection, and a burst of connects went mostly to one:
in the bench's overload minute one daphne got 86 % of the senders and
refused most of their sends while the other had little to do
(docs/benchmarks.md, "Overload"). WebSockets live for hours, so such a
split stays.

A socket's backlog goes with its process: connections a restarting daphne
had not yet accepted are reset (unless the kernel migrates them,
``net.ipv4.tcp_migrate_req``, which scripts/bootstrap.sh turns on where it
may). Clients reconnect, as after any restart.

daphne's access log (a line per HTTP request and three per WebSocket:
connecting, connected, disconnected) is written by the event loop, one
unbuffered write to supervisord's pipe a line, which blocks while supervisord
is behind. In a reconnect storm it was 10-15 % of a daphne's event loop
(py-spy, docs/benchmarks.md "The reconnect storm's queue"). It is
written when ``CHAT_ACCESS_LOG`` is on, by default when ``CHAT_LOG_LEVEL``
is ``INFO`` or ``DEBUG`` (`make run`'s default, INFO, keeps it); at
``WARNING`` and above, as `make bench` runs, daphne gets ``-v 0`` and
writes none.

Usage (scripts/supervisord.conf): ``python scripts/web_process.py
[daphne's options]``; daphne is started in this process's place with
``--fd 0``.
"""

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

DAPHNE = Path(sys.executable).parent / "daphne"


def listening_socket(bind: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bind, port))
    sock.listen(socket.SOMAXCONN)
    return sock


def access_log_on(env: Mapping[str, str]) -> bool:
    """Whether daphne writes its access log: ``CHAT_ACCESS_LOG``, else whether ``CHAT_LOG_LEVEL`` shows INFO."""
    value = env.get("CHAT_ACCESS_LOG", "").strip().lower()
    if value:
        return value in ("1", "true", "yes", "on")
    return env.get("CHAT_LOG_LEVEL", "INFO").strip().upper() in ("DEBUG", "INFO")


def main() -> None:
    bind, port = os.environ.get("BIND", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    if ":" in bind:
        # daphne's --fd adopts an IPv4 socket; so did the shared socket before.
        raise SystemExit(f"BIND must be an IPv4 address; got {bind!r}")
    sock = listening_socket(bind, port)
    # daphne adopts fd 0; dup2 makes the copy inheritable.
    os.dup2(sock.fileno(), 0)
    sock.close()
    quiet = [] if access_log_on(os.environ) else ["-v", "0"]
    os.execv(DAPHNE, [str(DAPHNE), "--fd", "0", *quiet, *sys.argv[1:]])  # noqa: S606 (our own daphne, no shell)


if __name__ == "__main__":
    main()
