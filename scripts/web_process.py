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

Usage (scripts/supervisord.conf): ``python scripts/web_process.py
[daphne's options]``; daphne is started in this process's place with
``--fd 0``.
"""

import os
import socket
import sys
from pathlib import Path

DAPHNE = Path(sys.executable).parent / "daphne"


def listening_socket(bind: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bind, port))
    sock.listen(socket.SOMAXCONN)
    return sock


def main() -> None:
    bind, port = os.environ.get("BIND", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    if ":" in bind:
        # daphne's --fd adopts an IPv4 socket; so did the shared socket before.
        raise SystemExit(f"BIND must be an IPv4 address; got {bind!r}")
    sock = listening_socket(bind, port)
    # daphne adopts fd 0; dup2 makes the copy inheritable.
    os.dup2(sock.fileno(), 0)
    sock.close()
    os.execv(DAPHNE, [str(DAPHNE), "--fd", "0", *sys.argv[1:]])  # noqa: S606 (our own daphne, no shell)


if __name__ == "__main__":
    main()
