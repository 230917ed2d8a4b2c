"""The machinery of the fault suite (tests/test_faults.py).

``FaultSystem`` starts the whole product as real processes against a Redis
and a MariaDB of its own (throw-away, on spare loopback ports), so killing
any of them harms nothing else on the machine: two daphnes, a Celery worker
per queue (``delayed`` with beat). ``Traffic`` drives it like real clients
would, on an asyncio loop of its own thread: one reconnecting WebSocket
client per user that calls ``sync`` from its cursor after every (re)connect
and every ``resync`` frame, senders over the socket and over REST that send
again with the same ``client_msg_id`` until they get an answer that is an
ack (every sixth with a file uploaded first), and per sending user a
``ChangeActor`` that edits, reacts and recalls (tests/fault_load.py).
``Phase`` holds what one fault's traffic sent and changed and what came
back, and ``check_phase`` compares it with the database and a fresh read.
"""

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import MySQLdb
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .fault_http import http_call, netloc
from .fault_load import ChangeActor, ChangeRecord, Upload, check_changes, upload, upload_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "correct-horse-battery"
WEBSOCKET_LIMITS = ["--websocket-max-message-size", "8388608", "--websocket-max-frame-size", "8388608"]
ACCEPT_DEADLINE_SECONDS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    """Poll until ``condition()`` is truthy (exceptions count as not yet); its value, or RuntimeError."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)


# --- processes ---------------------------------------------------------------------


class Service:
    """One subprocess in a session of its own, so that kill -9 takes its children (pool workers) too."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """A signal to the main process alone (SIGSTOP / SIGCONT)."""
        if self.running():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """kill -9 of the process and everything it started, as a crash would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGCONT)
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        # Whatever is left of the group (a pool child whose parent died).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def log_since_start(self) -> str:
        return self.log_from(self.log_offset)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_from(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]


class RedisServer(Service):
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        super().__init__("redis", [*argv, "--daemonize", "no"], dict(os.environ), log_dir)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        super().start()
        wait_until(lambda: self.client().ping(), 20, "redis-server answering")


class MariaDB(Service):
    """A throw-away MariaDB: its own data directory, root without a password."""

    def __init__(self, workdir: Path, log_dir: Path) -> None:
        self.port = free_port()
        self.datadir = workdir / "mariadb"
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                f"--datadir={self.datadir}",
                "--user=root",
                "--skip-test-db",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        argv = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={workdir / 'mariadb.sock'}",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            # The default, said out loud: an acked (committed) message survives kill -9.
            "--innodb-flush-log-at-trx-commit=1",
        ]
        super().__init__("mariadb", argv, dict(os.environ), log_dir)

    def connect(self, db: str | None = "chat") -> MySQLdb.Connection:
        kwargs = {"db": db} if db else {}
        return MySQLdb.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            passwd="",
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            **kwargs,
        )

    def start(self) -> None:
        super().start()
        wait_until(lambda: self.connect(None).close() or True, 60, "mariadbd answering")

    def query(self, sql: str, args=None) -> list[tuple]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, args)
            return list(cursor.fetchall())
        finally:
            conn.close()


class Daphne(Service):
    def __init__(self, index: int, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), *WEBSOCKET_LIMITS]
        super().__init__(f"daphne-{index}", [*argv, "chat_project.asgi:application"], env, log_dir)

    def start(self) -> None:
        super().start()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            if not self.running():
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=3) as response:
                return response.status == 200

        wait_until(healthy, timeout, f"{self.name} healthy")


class Worker(Service):
    def __init__(self, queue: str, env: dict[str, str], log_dir: Path, extra: list[str]) -> None:
        argv = [str(BIN / "celery"), "-A", "chat_project", "worker", "-Q", queue, "-c", "1", "-n", f"{queue}@faults"]
        argv += ["--without-gossip", "--without-mingle", "--loglevel", "INFO", *extra]
        super().__init__(f"worker-{queue}", argv, env, log_dir)

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if not self.running():
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            return " ready." in self.log_since_start()

        wait_until(ready, timeout, f"{self.name} ready")


class FaultSystem:
    """Redis, MariaDB, two daphnes and three Celery workers of its own."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-faults-"))
        # Logs stay in the project (like the other live tests' daphne logs) when a run fails.
        self.log_dir = ROOT / ".pytest-faults"
        shutil.rmtree(self.log_dir, ignore_errors=True)
        self.log_dir.mkdir()
        self.services: list[Service] = []

    def start(self) -> None:
        self.redis = RedisServer(self.log_dir)
        self.mariadb = MariaDB(self.workdir, self.log_dir)
        self.services += [self.redis, self.mariadb]
        self.redis.start()
        self.mariadb.start()
        conn = self.mariadb.connect(None)
        conn.cursor().execute("CREATE DATABASE chat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        conn.close()
        self.env = self._env()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        self.daphnes = [Daphne(i, self.env, self.log_dir) for i in range(2)]
        self.workers = {
            "realtime": Worker("realtime", self.env, self.log_dir, []),
            "delayed": Worker("delayed", self.env, self.log_dir, ["--beat", "--schedule", str(self.workdir / "beat")]),
            "retry": Worker("retry", self.env, self.log_dir, []),
        }
        self.services += [*self.daphnes, *self.workers.values()]
        for worker in self.workers.values():
            worker.start()
        for server in self.daphnes:
            Service.start(server)
        for server in self.daphnes:
            server.wait_healthy()
        for worker in self.workers.values():
            worker.wait_ready()

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chat_project.settings",
            "CHAT_DB_HOST": "127.0.0.1",
            "CHAT_DB_PORT": str(self.mariadb.port),
            "CHAT_DB_NAME": "chat",
            "CHAT_DB_USER": "root",
            "CHAT_DB_PASSWORD": "",
            "CHAT_REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.redis.url(1),
            "CHAT_CHANNEL_LAYER_URL": self.redis.url(2),
            "CHAT_REDIS_PREFIX": "chat",
            "CHAT_CHANNEL_PREFIX": "asgi",
            "CELERY_BROKER_PREFIX": "",
            "CHAT_RATE_LIMITS": "off",
            # Attachments (tests/fault_load.py) go to the throw-away directory.
            "CHAT_MEDIA_ROOT": str(self.workdir / "media"),
            "CHAT_HEARTBEAT_SECONDS": "1",
            "CHAT_SWEEP_INTERVAL_SECONDS": "1",
            "CHAT_FAN_OUT_STALE_SECONDS": "2",
            "CHAT_ACCEPT_DEADLINE_SECONDS": str(ACCEPT_DEADLINE_SECONDS),
            "DJANGO_DEBUG": "off",
            "CHAT_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("CHAT_TEST_RUN", None)
        return env

    @property
    def ports(self) -> list[int]:
        return [d.port for d in self.daphnes]

    def restart(self, service: Service) -> None:
        service.start()
        if isinstance(service, Worker):
            service.wait_ready()

    def stop(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def unfinished_fan_out(self) -> int:
        return self.mariadb.query("SELECT COUNT(*) FROM t_msg_record_list WHERE fan_out_done = 0")[0][0]


# --- traffic ------------------------------------------------------------------------------


@dataclass
class User:
    id: int
    username: str
    token: str


@dataclass
class SendRecord:
    """One message a client meant to send: answered once or many times (re-sends), acked or not."""

    sender: int
    to: int
    client_msg_id: str
    content: str
    via: str
    msg_id: int | None = None
    # Two acks for this client_msg_id named different messages.
    conflict: bool = False
    failures: Counter = field(default_factory=Counter)
    # When the client meant to send it (with a file: once uploaded), and when the first ack
    # came (time.monotonic()).
    created: float = field(default_factory=time.monotonic)
    acked_at: float | None = None
    # The file it carries (tests/fault_load.py), uploaded before the first send.
    upload: Upload | None = None
    # The Message of the first ack, and the attachment ids every ack named.
    message: dict | None = None
    acked_attachments: set[tuple[int, ...]] = field(default_factory=set)

    def attachments(self) -> list[int] | None:
        if self.upload is None:
            return None
        assert self.upload.attachment_id is not None
        return [self.upload.attachment_id]

    def take(self, answer: dict) -> bool:
        """Record an answer; True if it was an ack."""
        if answer.get("type") != "ack":
            self.failures[answer.get("code") or answer.get("type")] += 1
            return False
        if self.acked_at is None:
            self.acked_at = time.monotonic()
        msg_id = answer["message"]["msg_id"]
        self.acked_attachments.add(tuple(a["attachment_id"] for a in answer["message"].get("attachments", [])))
        if self.msg_id is None:
            self.msg_id, self.message = msg_id, answer["message"]
        elif self.msg_id != msg_id:
            self.conflict = True
        return True


@dataclass
class Phase:
    name: str
    records: list[SendRecord] = field(default_factory=list)
    # Edits, reactions and recalls (tests/fault_load.py).
    changes: list[ChangeRecord] = field(default_factory=list)
    sending: bool = True
    give_up_at: float = float("inf")
    start_counts: dict = field(default_factory=dict)
    sweeper_log_offset: int = 0


class Client:
    """One WebSocket of a user: reconnects (to the other daphne if its own is gone) and syncs.

    ``received`` holds the first copy of each message delivered (pushed or
    synced); ``latest`` the copy with the largest ``rev`` from pushes,
    ``changed`` frames and sync, as a 1.2 client keeps it.
    """

    def __init__(self, traffic: "Traffic", user: User, home: int) -> None:
        self.traffic, self.user, self.home = traffic, user, home
        self.received: dict[int, dict] = {}
        self.latest: dict[int, dict] = {}
        self.pushed: set[int] = set()
        self.synced: set[int] = set()
        # The rev each message last had in this client's sync chain: it never goes back.
        self.sync_revs: dict[int, int] = {}
        self.rev_notes: list[str] = []
        self.cursor = 0
        self.ws = None
        self.port: int | str | None = None
        self.connected = asyncio.Event()
        self.reading = asyncio.Event()
        self.reading.set()
        self.pending: dict[str, asyncio.Future] = {}
        self.pongs: list[asyncio.Future] = []
        self.sync_wanted = asyncio.Event()
        self.sync_requested = 0
        self.sync_done = 0
        self.counts: Counter = Counter()
        self.closed = False
        self.tasks = [asyncio.create_task(self._connection_loop()), asyncio.create_task(self._sync_loop())]

    def url(self, port: int | str) -> str:
        return f"ws://{netloc(port)}/ws/chat/?token={self.user.token}"

    async def next_port(self, attempt: int) -> int | str:
        """Where to (re)connect: the home daphne, the other after a failed attempt."""
        ports = self.traffic.ports
        return ports[(self.home + attempt) % len(ports)]

    def rest_port(self) -> int | str:
        return self.traffic.ports[self.home % 2]

    async def _connection_loop(self) -> None:
        attempt = 0
        while not self.closed:
            port = await self.next_port(attempt)
            try:
                ws = await connect(self.url(port), open_timeout=5, ping_interval=None, max_size=None, close_timeout=2)
            except Exception:
                attempt += 1
                await asyncio.sleep(0.3)
                continue
            try:
                ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert ready.get("type") == "ready", ready
            except Exception:
                attempt += 1
                await ws.close()
                await asyncio.sleep(0.3)
                continue
            self.ws, self.port = ws, port
            self.counts["connects"] += 1
            self.connected.set()
            # Events after ready reach the socket; sync covers everything before.
            self.request_sync()
            try:
                while True:
                    await self.reading.wait()
                    self._on_frame(json.loads(await ws.recv()))
            except ConnectionClosed as exc:
                if exc.rcvd is not None:
                    self.counts[f"close:{exc.rcvd.code}"] += 1
            except OSError:
                pass
            except Exception:
                self.counts["client_error"] += 1
            finally:
                self.ws = None
                self.connected.clear()
                self._fail_waiting()
                with contextlib.suppress(Exception):
                    await ws.close()
            await asyncio.sleep(0.2)

    def _fail_waiting(self) -> None:
        for future in [*self.pending.values(), *self.pongs]:
            if not future.done():
                future.set_result({"type": "dropped"})
        self.pending.clear()
        self.pongs.clear()

    def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message":
            self._record(frame["message"], pushed=True)
        elif kind == "changed":
            self._keep(frame["message"])
        elif kind in ("ack", "error"):
            if kind == "error":
                self.counts[f"error:{frame.get('code')}"] += 1
            future = self.pending.pop(frame.get("client_msg_id") or "", None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "pong":
            while self.pongs:
                future = self.pongs.pop(0)
                if not future.done():
                    future.set_result(frame)
                    break
        elif kind == "resync":
            self.counts["resync"] += 1
            self.request_sync()

    def _record(self, message: dict, pushed: bool) -> None:
        msg_id = message["msg_id"]
        self.received.setdefault(msg_id, message)
        (self.pushed if pushed else self.synced).add(msg_id)
        self._keep(message)

    def _keep(self, message: dict) -> None:
        """One copy per msg_id, the one with the largest rev (pushes may come in any order)."""
        held = self.latest.get(message["msg_id"])
        if held is None or message["rev"] > held["rev"]:
            self.latest[message["msg_id"]] = message
        elif message["rev"] == held["rev"] and message != held:
            self.counts["copy_conflict"] += 1
            self.rev_notes.append(f"user {self.user.id}: two copies of rev {message['rev']}: {held} and {message}")

    def note_rev_back(self, what: str) -> None:
        self.counts["rev_back"] += 1
        self.rev_notes.append(f"user {self.user.id}: rev went back: {what}")

    def _check_revs(self, since: int, results: list[dict]) -> None:
        """A sync page: revs ascending and beyond ``since``; no message older than this chain saw it before."""
        previous = since
        for message in results:
            msg_id, rev = message["msg_id"], message["rev"]
            if rev <= previous:
                self.note_rev_back(f"sync since {since} answered rev {rev} of {msg_id} after rev {previous}")
            seen = self.sync_revs.get(msg_id, 0)
            if rev < seen:
                self.note_rev_back(f"sync answered rev {rev} of {msg_id}, an earlier sync rev {seen}")
            self.sync_revs[msg_id] = max(rev, seen)
            previous = max(previous, rev)

    def request_sync(self) -> int:
        self.sync_requested += 1
        self.sync_wanted.set()
        return self.sync_requested

    async def sync_now(self, timeout: float) -> bool:
        """A sync that starts after this call, finished."""
        wanted = self.request_sync()
        deadline = time.monotonic() + timeout
        while self.sync_done < wanted:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _sync_loop(self) -> None:
        while not self.closed:
            await self.sync_wanted.wait()
            self.sync_wanted.clear()
            generation = self.sync_requested
            await self._sync()
            self.sync_done = generation

    async def _sync(self) -> None:
        """Follow next_since until has_more is false (PROTOCOL.md Sync, and 1.1's full-page rule)."""
        since = self.cursor
        while not self.closed:
            try:
                status, body = await self.traffic.http(
                    "GET", f"sync?since={since}&limit=500", self.user.token, prefer=self.port
                )
            except ConnectionError:
                status, body = 0, None
            if status != 200:
                self.counts["sync_retry"] += 1
                await asyncio.sleep(0.5)
                continue
            self._check_revs(since, body["results"])
            for message in body["results"]:
                self._record(message, pushed=False)
            if body["has_more"] and body["next_since"] == since:
                await asyncio.sleep(1)
                continue
            if body["next_since"] < since:
                self.note_rev_back(f"sync since {since} answered next_since {body['next_since']}")
            since = self.cursor = body["next_since"]
            if not body["has_more"]:
                self.counts["syncs"] += 1
                return

    async def send_ws(
        self, to: int, content: str, client_msg_id: str, timeout: float = 12, *, attachments: list[int] | None = None
    ) -> dict:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return {"type": "no_socket"}
        ws = self.ws
        if ws is None:
            return {"type": "no_socket"}
        future = asyncio.get_running_loop().create_future()
        self.pending[client_msg_id] = future
        try:
            frame = {"type": "send", "to": to, "content": content, "client_msg_id": client_msg_id}
            if attachments is not None:
                frame["attachments"] = attachments
            await ws.send(json.dumps(frame))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return {"type": "no_answer"}
        except Exception:
            return {"type": "dropped"}
        finally:
            if self.pending.get(client_msg_id) is future:
                del self.pending[client_msg_id]

    async def send_rest(
        self, to: int, content: str, client_msg_id: str, *, attachments: list[int] | None = None
    ) -> dict:
        body: dict = {"to": to, "content": content, "client_msg_id": client_msg_id}
        if attachments is not None:
            body["attachments"] = attachments
        try:
            status, body = await self.traffic.http("POST", "messages", self.user.token, body, prefer=self.rest_port())
        except ConnectionError:
            return {"type": "dropped"}
        if status in (200, 201):
            return {"type": "ack", "message": body}
        return {"type": "error", "code": (body or {}).get("code") or f"http_{status}"}

    async def ping(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        ws = self.ws
        if ws is None:
            return False
        future = asyncio.get_running_loop().create_future()
        self.pongs.append(future)
        try:
            await ws.send(json.dumps({"type": "ping"}))
            answer = await asyncio.wait_for(future, timeout)
        except Exception:
            return False
        return answer.get("type") == "pong"

    async def reconnect(self) -> None:
        ws = self.ws
        if ws is not None:
            await ws.close()

    async def close(self) -> None:
        self.closed = True
        for task in self.tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class Traffic:
    """Clients and senders on an asyncio loop in a thread of their own; the test thread drives faults."""

    client_class = Client
    # Clients' home servers: the first ``homes`` of ``ports``.
    homes = 2

    def __init__(self, system: FaultSystem, interval: float) -> None:
        self.system = system
        self.interval = interval
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(max_workers=48, thread_name_prefix="fault-http"))
        self.clients: dict[int, Client] = {}
        self.extra_clients: list[Client] = []
        self.phase: Phase | None = None
        # ("send", user id) or ("change", user id) while one is under way.
        self.busy: set[tuple[str, int]] = set()
        self.sender_tasks: list[asyncio.Task] = []
        self.stopped = False
        self.thread = threading.Thread(target=self.loop.run_forever, name="fault-traffic", daemon=True)
        self.thread.start()

    @property
    def ports(self) -> list:
        return self.system.ports

    def call(self, coro: Awaitable, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def http(
        self, method: str, path: str, token: str | None, body=None, prefer: int | str | None = None
    ) -> tuple:
        """One call, on ``prefer`` (or the first daphne), then the others if that one does not answer."""
        return await self.on_any(http_call, method, path, token, body, prefer=prefer)

    async def on_any(self, call: Callable[..., tuple], *args, prefer: int | str | None = None) -> tuple:
        """``call(port, *args)`` in a thread, on ``prefer`` first, then the other ports while none answers."""
        ports = list(self.ports)
        if prefer in ports:
            ports.remove(prefer)
            ports.insert(0, prefer)
        error: ConnectionError | None = None
        for port in ports:
            try:
                return await asyncio.get_running_loop().run_in_executor(None, call, port, *args)
            except ConnectionError as exc:
                error = exc
        raise error or ConnectionError("no server")

    # -- set-up --

    def register(self, username: str) -> User:
        body = {"username": username, "password": PASSWORD, "nickname": username}
        status, answer = http_call(self.ports[0], "POST", "auth/register", None, body)
        assert status == 201, (status, answer)
        return User(answer["user_id"], username, answer["token"])

    def open_clients(self, users: list[User]) -> None:
        async def open_all() -> None:
            for index, user in enumerate(users):
                self.clients[user.id] = self.client_class(self, user, home=index % self.homes)

        self.call(open_all())
        wait_until(lambda: all(c.connected.is_set() and c.sync_done for c in self.clients.values()), 60, "clients up")

    def open_extra(self, user: User, home: int) -> Client:
        async def open_one() -> Client:
            client = self.client_class(self, user, home)
            self.extra_clients.append(client)
            return client

        client = self.call(open_one())
        wait_until(client.connected.is_set, 30, "extra client up")
        return client

    def start_senders(self, pairs: list[tuple[User, User, str]]) -> None:
        """A sender per (sender, recipient, via), and per sending user a ChangeActor (tests/fault_load.py)."""

        async def start() -> None:
            for sender, recipient, via in pairs:
                self.sender_tasks.append(asyncio.create_task(self._sender(sender, recipient, via)))
            for uid in dict.fromkeys(sender.id for sender, _, _ in pairs):
                self.sender_tasks.append(asyncio.create_task(ChangeActor(self, self.clients[uid]).run()))

        self.call(start())

    # -- sending --

    async def deliver(self, record: SendRecord, send: Callable[[], Awaitable[dict]], phase: Phase) -> None:
        """Send until acked; after an error, no answer or a drop, again with the same client_msg_id.

        A record with a file uploads it first, again until an upload is answered.
        """
        client = self.clients[record.sender]
        while True:
            if await upload(self, client, record) and record.take(await send()):
                return
            if self.loop.time() > phase.give_up_at or self.stopped:
                return
            await asyncio.sleep(0.5)

    def send_function(self, client: Client, record: SendRecord) -> Callable[[], Awaitable[dict]]:
        if record.via == "rest":
            return lambda: client.send_rest(
                record.to, record.content, record.client_msg_id, attachments=record.attachments()
            )
        return lambda: client.send_ws(record.to, record.content, record.client_msg_id, attachments=record.attachments())

    async def _sender(self, sender: User, recipient: User, via: str) -> None:
        client = self.clients[sender.id]
        sequence = 0
        while not self.stopped:
            phase = self.phase
            if phase is None or not phase.sending:
                await asyncio.sleep(0.1)
                continue
            sequence += 1
            client_msg_id = f"{phase.name}-{sender.id}-{sequence}"
            item = upload_for(client_msg_id, sequence)
            # An image alone, without text (PROTOCOL.md 1.2: content may be "" with attachments).
            content = "" if item is not None and item.kind == "image" else f"{client_msg_id} 👋 fault traffic"
            record = SendRecord(sender.id, recipient.id, client_msg_id, content, via, upload=item)
            phase.records.append(record)
            key = ("send", sender.id)
            self.busy.add(key)
            try:
                await self.deliver(record, self.send_function(client, record), phase)
            finally:
                self.busy.discard(key)
            await asyncio.sleep(self.interval * random.uniform(0.7, 1.3))

    def begin(self, name: str) -> Phase:
        previous = self.phase
        if previous is not None and previous.sending:
            # A test that failed half way: its senders stop retrying soon.
            previous.sending = False
            previous.give_up_at = self.loop.time() + 10
        phase = Phase(name)
        phase.start_counts = self.counts()
        phase.sweeper_log_offset = self.system.workers["delayed"].log_size()
        self.phase = phase
        return phase

    def counts(self) -> Counter:
        async def gather() -> Counter:
            total: Counter = Counter()
            for client in [*self.clients.values(), *self.extra_clients]:
                total.update(client.counts)
            return total

        return self.call(gather())

    def stop_sending(self, phase: Phase, give_up_after: float = 30) -> None:
        async def stop() -> None:
            phase.sending = False
            phase.give_up_at = self.loop.time() + give_up_after

        self.call(stop())
        wait_until(lambda: not self.busy, give_up_after + 20, "senders done")

    def received_by(self) -> dict[int, dict[int, dict]]:
        async def snapshot() -> dict:
            return {uid: dict(client.received) for uid, client in self.clients.items()}

        return self.call(snapshot())

    def latest_by(self) -> dict[int, dict[int, dict]]:
        """Each user's copies of its messages, the largest rev of each (``Client.latest``)."""

        async def snapshot() -> dict:
            return {uid: dict(client.latest) for uid, client in self.clients.items()}

        return self.call(snapshot())

    def rev_notes(self) -> list[str]:
        """What the clients noted of revs gone back or copies that disagree, since the last call."""

        async def take() -> list[str]:
            notes = [note for client in self.clients.values() for note in client.rev_notes]
            for client in self.clients.values():
                client.rev_notes.clear()
            return notes

        return self.call(take())

    def synced_by(self) -> dict[int, set[int]]:
        async def snapshot() -> dict:
            return {uid: set(client.synced) for uid, client in self.clients.items()}

        return self.call(snapshot())

    def ping_all(self, timeout: float = 15) -> list[int]:
        """The users whose socket did not answer a ping with a pong."""

        async def ping() -> list[int]:
            clients = list(self.clients.values())
            answers = await asyncio.gather(*(c.ping(timeout) for c in clients))
            return [c.user.id for c, ok in zip(clients, answers, strict=True) if not ok]

        return self.call(ping(), timeout + 10)

    def sync_all(self, timeout: float = 30) -> list[int]:
        async def sync() -> list[int]:
            clients = list(self.clients.values())
            done = await asyncio.gather(*(c.sync_now(timeout) for c in clients))
            return [c.user.id for c, ok in zip(clients, done, strict=True) if not ok]

        return self.call(sync(), timeout + 10)

    def close(self) -> None:
        async def close_all() -> None:
            self.stopped = True
            for task in self.sender_tasks:
                task.cancel()
            for client in [*self.clients.values(), *self.extra_clients]:
                await client.close()

        with contextlib.suppress(Exception):
            self.call(close_all(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --- the checks ----------------------------------------------------------------------------


@dataclass
class Figures:
    fault: str
    sent: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    unanswered: int = 0  # error / no answer / drop answers before an ack (each re-sent)
    resyncs: int = 0
    reconnects: int = 0
    swept: int = 0  # messages whose fan-out the sweeper re-drove
    sync_gaps: int = 0
    count_mismatches: int = 0
    dead_sockets: int = 0
    # The edit, reaction and attachment load (tests/fault_load.py): changes answered as done,
    # acked sends with a file, changes given up (refused once recalled, or unanswered) ...
    edits: int = 0
    reactions: int = 0
    recalls: int = 0
    attached: int = 0
    gave_up: int = 0
    # ... and what must stay 0: answered changes missing from the final state, messages whose
    # fresh GET, expected state, either user's copy or attachment disagree, revs gone back.
    chg_lost: int = 0
    state_diffs: int = 0
    rev_back: int = 0
    # Copies of the phase's messages that only check_phase's own last sync brought up to date.
    sync_only: int = 0
    problems: list[str] = field(default_factory=list)

    BASE_COLUMNS = (
        "sent",
        "acked",
        "lost",
        "duplicated",
        "unanswered",
        "resyncs",
        "reconnects",
        "swept",
        "sync_gaps",
        "count_mismatches",
        "dead_sockets",
    )
    # After the base ones, so that tables printed before they existed stay comparable.
    LOAD_COLUMNS = (
        "edits",
        "reactions",
        "recalls",
        "attached",
        "gave_up",
        "chg_lost",
        "state_diffs",
        "rev_back",
        "sync_only",
    )
    COLUMNS = BASE_COLUMNS + LOAD_COLUMNS

    def row(self) -> str:
        return f"{self.fault:<28}" + "".join(f"{getattr(self, c):>11}" for c in self.COLUMNS)

    @classmethod
    def header(cls) -> str:
        return f"{'fault':<28}" + "".join(f"{c[:10]:>11}" for c in cls.COLUMNS)


def check_phase(system: FaultSystem, traffic: Traffic, phase: Phase, settle_timeout: float = 40) -> Figures:
    """After a fault: stop the phase's sends, let the system settle, compare everything with the database."""
    traffic.stop_sending(phase)
    figures = Figures(phase.name, sent=len(phase.records))
    acked = [r for r in phase.records if r.msg_id is not None]
    figures.acked = len(acked)
    failures: Counter = Counter()
    for record in phase.records:
        failures.update(record.failures)
    figures.unanswered = sum(failures.values())
    if failures:
        figures.problems.append(f"answers before the ack (each sent again): {dict(failures)}")

    def undelivered() -> list[SendRecord]:
        received = traffic.received_by()
        return [r for r in acked if r.msg_id not in received[r.to]]

    # Wait for the outcome (the sweeper re-drives within seconds); what is still missing then is lost.
    with contextlib.suppress(RuntimeError):
        wait_until(lambda: not undelivered(), settle_timeout, "acked messages delivered", interval=0.5)
    missing = undelivered()
    received = traffic.received_by()

    stored: dict[tuple[int, str], list[int]] = {}
    for sender, client_msg_id, msg_id in system.mariadb.query(
        "SELECT sender_id, client_msg_id, msgId FROM t_msg_record_list WHERE client_msg_id LIKE %s",
        [phase.name + "-%"],
    ):
        stored.setdefault((sender, client_msg_id), []).append(msg_id)
    lost: set[str] = {r.client_msg_id for r in missing}
    duplicated: set[str] = set()
    for record in acked:
        rows = stored.get((record.sender, record.client_msg_id), [])
        if not rows:
            lost.add(record.client_msg_id)
            figures.problems.append(f"acked but not stored: {record.client_msg_id} (msg {record.msg_id})")
        elif len(rows) > 1 or rows[0] != record.msg_id or record.conflict:
            duplicated.add(record.client_msg_id)
            figures.problems.append(f"stored {rows}, acked {record.msg_id}: {record.client_msg_id}")
    # The recipient's side: one client_msg_id, one msg_id.
    for uid, messages in received.items():
        per_key = Counter(
            (m["sender_id"], m["client_msg_id"])
            for m in messages.values()
            if m["recipient_id"] == uid and (m.get("client_msg_id") or "").startswith(phase.name + "-")
        )
        for (sender, client_msg_id), n in per_key.items():
            if n > 1:
                duplicated.add(client_msg_id)
                figures.problems.append(f"user {uid} received {n} messages for {sender}/{client_msg_id}")
    for record in missing[:10]:
        figures.problems.append(f"not received by {record.to}: {record.client_msg_id} (msg {record.msg_id})")
    figures.lost, figures.duplicated = len(lost), len(duplicated)

    dead = traffic.ping_all()
    figures.dead_sockets = len(dead)
    if dead:
        figures.problems.append(f"no pong from the sockets of users {dead}")

    mismatches: list[str] = []
    with contextlib.suppress(RuntimeError):
        wait_until(lambda: not _count_mismatches(system, traffic, mismatches), 20, "counts", interval=0.5)
    figures.count_mismatches = len(mismatches)
    figures.problems += mismatches[:10]

    # Gap-free sync: the messages each client got through its own chain of sync
    # calls (on connect and on resync, never on push) plus one more now cover
    # every message of the user in the database.
    before_sync = traffic.latest_by()
    not_synced = traffic.sync_all()
    if not_synced:
        figures.problems.append(f"sync did not finish for users {not_synced}")
    synced = traffic.synced_by()
    for uid, ids in synced.items():
        in_db = {
            row[0]
            for row in system.mariadb.query(
                "SELECT msgId FROM t_msg_record_list WHERE sender_id = %s OR recipient_id = %s", [uid, uid]
            )
        }
        gap = in_db - ids
        if gap:
            figures.sync_gaps += len(gap)
            figures.problems.append(
                f"user {uid}: {len(gap)} stored message(s) never returned by sync: {sorted(gap)[:5]}"
            )

    # Edits, reactions, recalls and attachments: the final state of every message of the phase.
    check_changes(traffic, phase, figures, before_sync)

    counts = traffic.counts() - phase.start_counts
    figures.resyncs = counts["resync"]
    figures.reconnects = counts["connects"]
    figures.rev_back += counts["rev_back"]
    figures.state_diffs += counts["copy_conflict"]
    sweeper_log = system.workers["delayed"].log_from(phase.sweeper_log_offset)
    figures.swept = sum(int(n) for n in re.findall(r"re-drove fan-out of (\d+) message", sweeper_log))
    return figures


def _count_mismatches(system: FaultSystem, traffic: Traffic, out: list[str]) -> list[str]:
    """Every user's conversation list and unread counts against a recount from t_msg_record_list."""
    out.clear()
    last = {}
    unread = {}
    for uid, session, newest in system.mariadb.query(
        "SELECT u, sessionId, MAX(msgId) FROM (SELECT sender_id AS u, sessionId, msgId FROM t_msg_record_list"
        " UNION ALL SELECT recipient_id, sessionId, msgId FROM t_msg_record_list) m GROUP BY u, sessionId"
    ):
        last.setdefault(uid, {})[session] = newest
    for uid, session, n in system.mariadb.query(
        "SELECT recipient_id, sessionId, COUNT(*) FROM t_msg_record_list WHERE isRead = 0 AND recordStatus = 0"
        " GROUP BY recipient_id, sessionId"
    ):
        unread.setdefault(uid, {})[session] = n
    for uid, client in traffic.clients.items():
        token = client.user.token
        listed: dict[int, tuple[int, int]] = {}
        before = None
        while True:
            status, body = http_call(
                traffic.ports[0], "GET", "conversations?limit=100" + (f"&before={before}" if before else ""), token
            )
            if status != 200:
                out.append(f"user {uid}: GET conversations answered {status}")
                return out
            for conversation in body["results"]:
                listed[conversation["conversation_id"]] = (
                    conversation["last_message"]["msg_id"],
                    conversation["unread"],
                )
            before = body["next_before"]
            if not before:
                break
        expected = {
            session: (newest, unread.get(uid, {}).get(session, 0)) for session, newest in last.get(uid, {}).items()
        }
        if listed != expected:
            out.append(f"user {uid}: conversations {listed} != recount {expected}")
        status, body = http_call(traffic.ports[0], "GET", "unread", token)
        want = {str(s): n for s, n in unread.get(uid, {}).items() if n}
        if status != 200 or body["conversations"] != want or body["total"] != sum(want.values()):
            out.append(f"user {uid}: unread {status} {body} != recount {want}")
    return out
