"""The `idle` phase: many authenticated idle sockets on the system's daphnes (issue 19, part 2).

``BENCH_IDLE_SOCKETS`` users (made in bulk, reused by later runs) each open
one socket to the system `make run` starts, whose daphne processes share one
listening socket, so the kernel spreads the sockets over them. One source
address holds at most ``BENCH_IDLE_PER_ADDRESS`` sockets (the ephemeral port
range is about 28,000 ports per address): the sockets come from 127.0.0.2,
127.0.0.3, … , all loopback.

Measured, in this order:

- the daphnes' RSS before and after (KB per socket), and how many sockets
  each daphne holds (its socket descriptors);
- the heartbeat's cost: Redis commands per second over ``BENCH_IDLE_WINDOW``
  seconds, before the sockets came and with them idle, and the daphnes' CPU
  over the same windows;
- a message to an idle user: ``BENCH_IDLE_DELIVERIES`` REST sends, one at a
  time, each to another idle user, timed to its ``message`` frame;
- a restart of every daphne (SIGTERM; supervisord starts them again, as after
  a deploy): the clients reconnect as both SDKs do (after a drop, the first
  attempt after 0.5-1 s, then full jitter up to 20 s; chat_sdk.backoff),
  and the phase times how long until every socket is ready again, then
  sends one more message.

One process may hold no more sockets than its open-files limit. The phase
starts its own system (`make run`'s launcher, after the other phases' system
stopped) with enough daphne processes for ``BENCH_IDLE_PER_PROCESS`` sockets
each (``CHAT_WEB_PROCESSES``, at least the machine's default), and drives the
sockets from as many generator processes, each with its own event loop. The
per-process figure defaults to 15,000, under this machine's hard limit of
20,000 descriptors, which root may not raise here (no CAP_SYS_RESOURCE); on a
machine with a higher limit fewer, larger processes do.
"""

import asyncio
import contextlib
import errno
import json
import math
import multiprocessing
import os
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from typing import cast
from urllib.parse import urlsplit

import redis
import websockets
from chat_sdk.backoff import backoff

from . import system, users
from .load import connect, percentiles

SOCKETS = int(os.environ.get("BENCH_IDLE_SOCKETS") or 100_000)
PER_ADDRESS = int(os.environ.get("BENCH_IDLE_PER_ADDRESS") or 20_000)
PER_PROCESS = int(os.environ.get("BENCH_IDLE_PER_PROCESS") or 15_000)
WINDOW = float(os.environ.get("BENCH_IDLE_WINDOW") or 30)
DELIVERIES = int(os.environ.get("BENCH_IDLE_DELIVERIES") or 10)
CONCURRENCY = int(os.environ.get("BENCH_IDLE_CONCURRENCY") or 200)
RESTART = os.environ.get("BENCH_IDLE_RESTART", "on") != "off"
RESTART_TIMEOUT = float(os.environ.get("BENCH_IDLE_RESTART_TIMEOUT") or 900)
CLOSE_SERVICE_RESTART = 1012  # PROTOCOL.md: reconnect after a short random delay, no backoff
MARK = "idle-"  # the client_msg_id prefix of the phase's deliveries


def say(text: str) -> None:
    print(f"[idle {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def now() -> float:
    return time.monotonic()  # CLOCK_MONOTONIC: the same clock in every generator process


def source_address(index: int) -> str:
    return f"127.0.0.{2 + index // PER_ADDRESS}"


def daphne_pids(root: int) -> list[int]:
    return sorted(pid for pid in system.descendants(root) if system.kind_of(pid, root) == "daphne")


def client_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections to ``port`` on this machine (/proc/net/tcp)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    return inodes


def held_sockets(pid: int, inodes: set[str]) -> int:
    """How many of those connections the process holds."""
    count = 0
    with contextlib.suppress(OSError):
        for name in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{name}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    count += 1
    return count


# --- one generator process ---------------------------------------------------------

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


async def open_socket(source: str, url: str) -> socket.socket:
    """A TCP connection from ``source`` to the URL's host and port.

    The port is picked at connect time, for the whole address pair
    (IP_BIND_ADDRESS_NO_PORT): a port bound first would have to be free of
    every connection of the address, including those still in TIME_WAIT from
    a run before.
    """
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    except BaseException:
        sock.close()
        raise
    return sock


# What a connect attempt may fail with, to be counted and tried again.
ATTEMPT_FAILURES = (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed, RuntimeError)


def failure_kind(error: BaseException) -> str:
    """An attempt's failure, for the counts: the class, and the errno or HTTP status where there is one."""
    if isinstance(error, OSError) and error.errno is not None:
        return f"{type(error).__name__} ({errno.errorcode.get(error.errno, error.errno)})"
    if isinstance(error, websockets.ConnectionClosed):  # closed before ``ready``: 1013 is the connect gate's
        return f"{type(error).__name__} ({error.rcvd.code if error.rcvd else 'no close frame'})"
    status = getattr(getattr(error, "response", None), "status_code", None)
    return f"{type(error).__name__} ({status})" if status else type(error).__name__


class Fleet:
    """Idle clients, one task each: connect, read frames, and after a drop reconnect as the SDKs do.

    Tells its parent (``report``) what it sees: counts, and the arrival of the phase's messages.
    """

    def __init__(self, urls: list[str], first_index: int, report, concurrency: int) -> None:
        self.urls = urls
        self.first_index = first_index
        self.report = report
        self.sockets: list = [None] * len(urls)
        self.ready = 0
        self.failed_attempts = 0
        self.connect_failures = 0
        self.dropped = 0
        # Why each reconnect attempt failed (failure_kind), and the close codes of the restart's drops.
        self.failure_kinds: Counter[str] = Counter()
        self.close_codes: Counter[str] = Counter()
        self.ready_at: list[float] = []  # monotonic times a socket became ready after the restart began
        self.restart_started: float | None = None
        self.stopping = False
        self.gate = asyncio.Semaphore(concurrency)  # the first connects only: reconnects are the SDKs'
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.client(i)) for i in range(len(self.urls))]

    async def client(self, index: int) -> None:
        attempt, first = 0, True
        source = source_address(self.first_index + index)
        while not self.stopping:
            try:
                if first:
                    async with self.gate:
                        ws = await connect(self.urls[index], sock=await open_socket(source, self.urls[index]))
                    first = False
                else:
                    ws = await connect(self.urls[index], timeout=60, sock=await open_socket(source, self.urls[index]))
            except ATTEMPT_FAILURES as error:
                # Counted, and tried again as the SDKs do (a daphne busy with thousands of handshakes
                # may drop one); the first connects keep their place in the pacing.
                if first:
                    self.connect_failures += 1
                else:
                    self.failed_attempts += 1
                    self.failure_kinds[failure_kind(error)] += 1
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            self.sockets[index] = ws
            self.ready += 1
            if self.restart_started is not None:
                self.ready_at.append(now())
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "message":
                        cmid = frame["message"].get("client_msg_id") or ""
                        if cmid.startswith(MARK):
                            self.report(("delivered", cmid, now()))
            self.sockets[index] = None
            self.ready -= 1
            if self.stopping:
                return
            self.dropped += 1
            code = ws.close_code
            if self.restart_started is not None:
                self.close_codes[str(code)] += 1
            delay = random.uniform(0, 0.5) if code == CLOSE_SERVICE_RESTART else backoff(attempt)  # noqa: S311 - jitter
            await asyncio.sleep(delay)
            attempt += 1

    async def stop(self) -> None:
        self.stopping = True

        async def close(ws) -> None:
            with contextlib.suppress(Exception):
                await ws.close()

        sockets = [ws for ws in self.sockets if ws is not None]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(close(ws) for ws in sockets)), 120)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def generator(urls: list[str], first_index: int, concurrency: int, conn) -> None:
    """A generator process: its slice of the sockets, until the parent says stop."""
    asyncio.run(_generate(urls, first_index, concurrency, conn))


async def _generate(urls: list[str], first_index: int, concurrency: int, conn) -> None:
    loop = asyncio.get_running_loop()
    lock = threading.Lock()

    def report(message) -> None:
        with lock:
            conn.send(message)

    fleet = Fleet(urls, first_index, report, concurrency)
    commands: asyncio.Queue = asyncio.Queue()

    def listen() -> None:
        try:
            while True:
                message = conn.recv()
                loop.call_soon_threadsafe(commands.put_nowait, message)
                if message[0] == "stop":
                    return
        except (EOFError, OSError):
            # The phase's process is gone (killed, it never says stop): leave at once, and the
            # kernel closes the sockets. Before, a generator went on holding them and a core.
            os._exit(1)

    threading.Thread(target=listen, daemon=True).start()
    report(("started", os.getpid()))
    fleet.start()

    async def status() -> None:
        while True:
            failed = next((t for t in fleet.tasks if t.done() and not t.cancelled() and t.exception()), None)
            if failed is not None:
                report(("failed", repr(failed.exception())))
            report(("status", fleet.ready, fleet.failed_attempts, fleet.dropped, fleet.connect_failures))
            await asyncio.sleep(0.5)

    reporter = asyncio.create_task(status())
    while True:
        command = await commands.get()
        if command[0] == "restart":
            fleet.restart_started = command[1]
        elif command[0] == "stop":
            break
    reporter.cancel()
    await fleet.stop()
    report(("final", fleet.ready_at, fleet.failed_attempts, fleet.dropped, fleet.failure_kinds, fleet.close_codes))


# --- the phase --------------------------------------------------------------------


class Generators:
    """The generator processes, seen from the phase: summed counts, and when each message arrived."""

    def __init__(self, urls: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.lock = threading.Lock()
        self.status: dict[int, tuple[int, int, int, int]] = {}
        self.delivered: dict[str, float] = {}
        self.finals: dict[int, tuple] = {}
        self.pids: dict[int, int] = {}
        self.failure: str | None = None
        self.conns = []
        self.processes = []
        for number, start in enumerate(range(0, len(urls), PER_PROCESS)):
            parent, child = context.Pipe()
            # CONCURRENCY connects in flight in all: a daphne busy with thousands of handshakes drops some.
            share = max(1, CONCURRENCY // math.ceil(len(urls) / PER_PROCESS))
            process = context.Process(target=generator, args=(urls[start : start + PER_PROCESS], start, share, child))
            process.start()
            self.conns.append(parent)
            self.processes.append(process)
            threading.Thread(target=self._listen, args=(number, parent), daemon=True).start()

    def _listen(self, number: int, conn) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                message = conn.recv()
                with self.lock:
                    kind = message[0]
                    if kind == "status":
                        self.status[number] = message[1:]
                    elif kind == "delivered":
                        self.delivered[message[1]] = message[2]
                    elif kind == "started":
                        self.pids[number] = message[1]
                    elif kind == "failed":
                        self.failure = message[1]
                    elif kind == "final":
                        self.finals[number] = message[1:]
                        return

    def totals(self) -> tuple[int, int, int]:
        with self.lock:
            if self.failure is not None:
                say(f"a generator process failed: {self.failure}")
                raise RuntimeError(f"a generator process failed: {self.failure}")
            values = list(self.status.values())
        return tuple(sum(v[i] for v in values) for i in range(3))  # type: ignore[return-value]

    def connect_failures(self) -> int:
        with self.lock:
            return sum(v[3] for v in self.status.values())

    def wait_ready(self, count: int, within: float, label: str) -> bool:
        deadline, last = now() + within, 0.0
        while True:
            ready, failed, _ = self.totals()
            if ready >= count:
                return True
            if now() > deadline or any(not p.is_alive() for p in self.processes):
                return False
            if now() - last >= 5:
                say(f"{label}: {ready}/{count} sockets ready, {failed} failed attempts")
                last = now()
            time.sleep(0.2)

    def rss_kb(self) -> int:
        return sum(system.rss_kb(pid) for pid in self.pids.values())

    def tell(self, message) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(message)

    def stop(self) -> list[tuple]:
        self.tell(("stop",))
        deadline = now() + 180
        for process in self.processes:
            process.join(max(0.1, deadline - now()))
            if process.is_alive():
                process.kill()
        return list(self.finals.values())


def redis_commands() -> int:
    client = redis.Redis.from_url(system.REDIS_URL)
    try:
        stats = cast(dict, client.info("stats"))
        return int(stats["total_commands_processed"])
    finally:
        client.close()


def cpu(pids: list[int]) -> float:
    return sum(system.cpu_seconds(pid) or 0.0 for pid in pids)


def redis_pids() -> list[int]:
    return [pid for pid, (kind, _) in system.snapshot([]).items() if kind == "redis-server"]


def window(pids: list[int]) -> dict:
    """Redis commands per second, Redis's and the daphnes' CPU (% of one core) over WINDOW seconds."""
    servers = redis_pids()
    commands, spent, redis_spent, started = redis_commands(), cpu(pids), cpu(servers), now()
    time.sleep(WINDOW)
    elapsed = now() - started
    return {
        "redis_commands_per_s": round((redis_commands() - commands) / elapsed, 1),
        "redis_cpu_percent": round((cpu(servers) - redis_spent) / elapsed * 100, 1),
        "daphne_cpu_percent": round((cpu(pids) - spent) / elapsed * 100, 1),
    }


def deliver(generators: Generators, api: users.Api, recipient: dict) -> float | None:
    cmid = f"{MARK}{uuid.uuid4().hex}"
    started = now()
    api.call("POST", "messages", {"to": recipient["user_id"], "content": "wake", "client_msg_id": cmid})
    deadline = started + 30
    while now() < deadline:
        with generators.lock:
            arrived = generators.delivered.get(cmid)
        if arrived is not None:
            return round((arrived - started) * 1000, 1)
        time.sleep(0.001)
    return None


def daphnes_for(count: int) -> int:
    machine_default = int(os.environ.get("CHAT_WEB_PROCESSES") or os.cpu_count() or 1)
    return max(machine_default, math.ceil(count / PER_PROCESS))


def phase(ws_url) -> dict:
    """Start a system with enough daphnes, hold the sockets, measure, stop it."""
    count = SOCKETS
    limit = system.raise_fd_limit()
    if limit < PER_PROCESS + 1000:
        raise SystemExit(f"BENCH_IDLE_PER_PROCESS={PER_PROCESS} needs an open-files limit above {PER_PROCESS + 1000}")
    say(f"making {count} users")
    people = users.bulk("benchidle", count + 1)
    sender, idle = people[-1], people[:count]
    port = system.free_port()
    processes = daphnes_for(count)
    command = system.launcher_command(port)
    say(f"starting `{command}` with {processes} daphne processes")
    service = system.Service("idle", command, port, system.bench_env(CHAT_WEB_PROCESSES=str(processes)))
    try:
        return _measure(service, sender, idle, ws_url)
    finally:
        service.stop()


def _measure(service: system.Service, sender: dict, idle: list[dict], ws_url) -> dict:
    count = len(idle)
    root = service.pid
    daphnes = daphne_pids(root)
    result: dict = {
        "sockets": count,
        "daphnes": len(daphnes),
        "generator_processes": math.ceil(count / PER_PROCESS),
        "source_addresses": 1 + (count - 1) // PER_ADDRESS,
        "daphne_open_files_limit": system.open_files_limit(daphnes[0]) if daphnes else None,
        "generator_open_files_limit": system.open_files_limit(os.getpid()),
    }
    time.sleep(10)  # what the system's start left to do (Celery's first polls, beat)
    say(f"{len(daphnes)} daphnes; the heartbeat's baseline over {WINDOW:g} s, no idle socket")
    result["baseline"] = window(daphnes)
    rss_before = sum(system.rss_kb(pid) for pid in daphnes)
    generators = Generators([ws_url(service.port, "token=" + p["token"]) for p in idle])
    try:
        started = now()
        while len(generators.pids) < len(generators.processes):
            time.sleep(0.05)
        generator_before = generators.rss_kb()
        if not generators.wait_ready(count, 3600, "connect"):
            raise RuntimeError("the idle sockets did not all connect")
        result["connect_seconds"] = round(now() - started, 1)
        result["connect_failed_attempts"] = generators.connect_failures()
        result["connects_per_s"] = round(count / (now() - started), 1)
        time.sleep(5)
        rss_after = sum(system.rss_kb(pid) for pid in daphnes)
        inodes = client_inodes(service.port)
        result.update(
            rss_before_mb=round(rss_before / 1024, 1),
            rss_after_mb=round(rss_after / 1024, 1),
            kb_per_socket=round((rss_after - rss_before) / count, 1),
            sockets_per_daphne=[held_sockets(pid, inodes) for pid in daphnes],
            generator_kb_per_socket=round((generators.rss_kb() - generator_before) / count, 1),
        )
        say(f"{count} sockets ready in {result['connect_seconds']} s: {result['kb_per_socket']} KB each")
        result["idle"] = window(daphnes)
        beats = WINDOW / max(1.0, float(os.environ.get("CHAT_HEARTBEAT_SECONDS") or 10))
        extra = result["idle"]["redis_commands_per_s"] - result["baseline"]["redis_commands_per_s"]
        result["heartbeat_redis_commands_per_s"] = round(extra, 1)
        result["heartbeat_redis_commands_per_socket_beat"] = round(extra * WINDOW / beats / count, 2)
        api = users.Api(service.port, sender["token"])
        try:
            times = [deliver(generators, api, idle[-1 - i * 7919 % count]) for i in range(DELIVERIES)]
            result["delivery_ms"] = times[0]
            result["deliveries"] = percentiles([t / 1000 for t in times if t is not None])
            result["deliveries_missing"] = sum(t is None for t in times)
            if RESTART:
                restart(generators, root, daphnes, count, result)
                result["delivery_after_restart_ms"] = deliver(generators, api, idle[0])
        finally:
            api.close()
    finally:
        say(f"closing {count} sockets")
        finals = generators.stop()
    if RESTART and "restart" in result:
        restarted: float = result.pop("_restart_started")
        back: list[float] = sorted(t - restarted for final in finals for t in final[0])

        def at(share: float) -> float | None:
            need = math.ceil(share * count)
            return round(back[need - 1], 1) if need and len(back) >= need else None

        failures: Counter[str] = Counter()
        closes: Counter[str] = Counter()
        for final in finals:
            failures.update(final[3])
            closes.update(final[4])
        result["restart"].update(
            failures_by_kind=dict(failures.most_common()),
            drops_by_close_code=dict(closes.most_common()),
            reconnected=len(back),
            half_back_after_s=at(0.5),
            p90_back_after_s=at(0.9),
            p99_back_after_s=at(0.99),
            all_back_after_s=at(1.0),
        )
    return result


def restart(generators: Generators, root: int, daphnes: list[int], count: int, result: dict) -> None:
    say(f"restarting the {len(daphnes)} daphnes (SIGTERM; supervisord starts them again)")
    started = now()
    generators.tell(("restart", started))
    result["_restart_started"] = started
    for pid in daphnes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    back = False
    while now() - started < 120:
        if len([pid for pid in daphne_pids(root) if pid not in daphnes]) >= len(daphnes):
            back = True
            break
        time.sleep(0.1)
    result["restart_daphnes_started_s"] = round(now() - started, 1) if back else None
    for _ in range(600):  # the old daphnes may take up to a minute to close their sockets
        ready, _, dropped = generators.totals()
        if ready == 0 or dropped:
            break
        time.sleep(0.1)
    done = generators.wait_ready(count, RESTART_TIMEOUT, "reconnect")
    _, failed, dropped = generators.totals()
    result["restart"] = {"dropped": dropped, "all_back": done, "failed_attempts": failed}


def print_summary(r: dict) -> None:
    back = r.get("restart") or {}
    print(
        f"idle     {r['sockets']} sockets on {r['daphnes']} daphnes {r.get('sockets_per_daphne')}:"
        f" {r.get('kb_per_socket')} KB each, connected in {r.get('connect_seconds')} s;"
        f" heartbeat {r.get('heartbeat_redis_commands_per_s')} Redis commands/s;"
        f" delivery {r.get('deliveries')} ms; restart: all back after {back.get('all_back_after_s')} s"
        f" ({back.get('failed_attempts')} failed attempts)"
    )
