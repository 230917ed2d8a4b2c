"""Real servers for end-to-end tests: daphne processes and WebSocket clients.

Each daphne runs the project's ASGI application against the test database
(test_chat) and the test Redis databases, exactly as `make run` starts it.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from scripts.run import stat_fields as proc_stat  # noqa: F401 (the tests' /proc/<pid>/stat reader)

ROOT = Path(__file__).resolve().parent.parent
# As in the Procfile: frames up to 8 MiB reach the consumer (which refuses
# those over CHAT_MAX_FRAME_BYTES with an error frame); daphne's default
# 1 MiB would drop the connection instead.
WEBSOCKET_LIMITS = ["--websocket-max-message-size", "8388608", "--websocket-max-frame-size", "8388608"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daphne:
    def __init__(
        self,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        args: tuple[str, ...] = (),
        *,
        web_process: bool = False,
    ) -> None:
        """``port``: the port of a server stopped before, to start it again where its clients reconnect.
        ``args``: more of daphne's options. ``web_process``: started as supervisord starts it under
        `make run` (scripts/web_process.py), not with daphne's own listening options."""
        from django.conf import settings

        self.port = port or free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chat_project.settings_test",
            "CHAT_DB_NAME": settings.DATABASES["default"]["NAME"],
            "CHAT_REDIS_URL": settings.CHAT_REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CHAT_CHANNEL_LAYER_URL": settings.CHAT_CHANNEL_LAYER_URL,
            "CHAT_RATE_LIMITS": "on" if settings.CHAT_RATE_LIMITS else "off",
            **(extra_env or {}),
        }
        self.log = open(ROOT / f".pytest-daphne-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        if web_process:
            env.update(BIND="127.0.0.1", PORT=str(self.port))
            daphne = [sys.executable, str(ROOT / "scripts" / "web_process.py"), *WEBSOCKET_LIMITS, *args]
        else:
            daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), *WEBSOCKET_LIMITS, *args]
        self.proc = subprocess.Popen(
            [*daphne, "chat_project.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not become healthy")

    def kill(self) -> None:
        """Die without closing sockets, as a crashed process would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def socket(self, token: str | None = None, *, query: str | None = None, headers=None) -> "Socket":
        qs = query if query is not None else (f"token={token}" if token else "")
        url = f"ws://{self.address}/ws/chat/" + (f"?{qs}" if qs else "")
        return Socket(connect(url, open_timeout=10, additional_headers=headers, max_size=None))


class Socket:
    """A WebSocket client that can wait for a frame of a given type, keeping the others."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.backlog: list[dict] = []

    def send(self, frame: "dict | str | bytes") -> None:
        self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    def _take(self, frame_type: str, match: dict) -> dict | None:
        for index, frame in enumerate(self.backlog):
            if frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return self.backlog.pop(index)
        return None

    def expect(self, frame_type: str, timeout: float = 10.0, **match) -> dict:
        found = self._take(frame_type, match)
        deadline = time.monotonic() + timeout
        while found is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {frame_type} frame matching {match}; got {self.backlog}")
            try:
                raw = self.ws.recv(timeout=remaining)
            except TimeoutError:
                continue
            self.backlog.append(json.loads(raw))
            found = self._take(frame_type, match)
        return found

    def drain(self, wait: float = 0.5) -> list[dict]:
        """Every frame that arrives within ``wait`` seconds (plus the backlog)."""
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.backlog.append(json.loads(self.ws.recv(timeout=remaining)))
            except TimeoutError:
                break
        frames, self.backlog = self.backlog, []
        return frames

    def close_code(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.ws.recv(timeout=deadline - time.monotonic())
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            pass
        raise AssertionError("the server did not close the socket")

    def close(self) -> None:
        self.ws.close()


class FreezingProxy:
    """A TCP relay to a server (RabbitMQ, Redis) that can stop relaying and keep its connections open:
    a server that stops answering (paused, partitioned) without closing anything."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)  # hold the bytes: the broker "stopped answering"
                sink.sendall(chunk)

    def close(self) -> None:
        self.listener.close()
        for each in self.sockets:
            with contextlib.suppress(OSError):
                each.close()
