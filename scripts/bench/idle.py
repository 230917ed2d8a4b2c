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

The generator raises its open-files limit (root may raise the hard limit too)
before the system starts, so the daphnes inherit it: 100,000 sockets need
about 100,000 descriptors on each side.
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
import uuid
from typing import cast

import redis
import websockets
from chat_sdk.backoff import backoff

from . import system, users
from .load import connect, percentiles

SOCKETS = int(os.environ.get("BENCH_IDLE_SOCKETS") or 100_000)
PER_ADDRESS = int(os.environ.get("BENCH_IDLE_PER_ADDRESS") or 20_000)
WINDOW = float(os.environ.get("BENCH_IDLE_WINDOW") or 30)
DELIVERIES = int(os.environ.get("BENCH_IDLE_DELIVERIES") or 10)
CONCURRENCY = int(os.environ.get("BENCH_IDLE_CONCURRENCY") or 200)
RESTART = os.environ.get("BENCH_IDLE_RESTART", "on") != "off"
RESTART_TIMEOUT = float(os.environ.get("BENCH_IDLE_RESTART_TIMEOUT") or 900)
CLOSE_SERVICE_RESTART = 1012  # PROTOCOL.md: reconnect after a short random delay, no backoff


def say(text: str) -> None:
    print(f"[idle {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def now() -> float:
    return time.monotonic()


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


class Fleet:
    """Idle clients, one task each: connect, read frames, and after a drop reconnect as the SDKs do."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.sockets: list = [None] * len(urls)
        self.ready = 0
        self.failed_attempts = 0
        self.dropped = 0
        self.ready_at: list[float] = []  # times a socket became ready again after the restart began
        self.restart_started: float | None = None
        self.stopping = False
        self.waiting: dict[str, asyncio.Future] = {}
        self.gate = asyncio.Semaphore(CONCURRENCY)  # the first connects only: reconnects are the SDKs'
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.client(i)) for i in range(len(self.urls))]

    async def client(self, index: int) -> None:
        attempt, first = 0, True
        while not self.stopping:
            try:
                if first:
                    async with self.gate:
                        ws = await connect(self.urls[index], local_addr=(source_address(index), 0))
                    first = False
                else:
                    ws = await connect(self.urls[index], timeout=60, local_addr=(source_address(index), 0))
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed, RuntimeError):
                if first and self.restart_started is None:
                    raise
                self.failed_attempts += 1
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            self.sockets[index] = ws
            self.ready += 1
            if self.restart_started is not None:
                self.ready_at.append(now() - self.restart_started)
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "message":
                        waiter = self.waiting.pop(frame["message"].get("client_msg_id") or "", None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(now())
            self.sockets[index] = None
            self.ready -= 1
            if self.stopping:
                return
            self.dropped += 1
            code = ws.close_code
            delay = random.uniform(0, 0.5) if code == CLOSE_SERVICE_RESTART else backoff(attempt)  # noqa: S311 - jitter
            await asyncio.sleep(delay)
            attempt += 1

    async def wait_ready(self, count: int, within: float, label: str) -> bool:
        deadline = now() + within
        last = 0.0
        while self.ready < count:
            if now() > deadline:
                return False
            failed = [t for t in self.tasks if t.done() and not t.cancelled() and t.exception()]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            if now() - last >= 5:
                say(f"{label}: {self.ready}/{count} sockets ready, {self.failed_attempts} failed attempts")
                last = now()
            await asyncio.sleep(0.2)
        return True

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


def redis_commands() -> int:
    client = redis.Redis.from_url(system.REDIS_URL)
    try:
        stats = cast(dict, client.info("stats"))
        return int(stats["total_commands_processed"])
    finally:
        client.close()


def cpu(pids: list[int]) -> float:
    return sum(system.cpu_seconds(pid) or 0.0 for pid in pids)


async def window(pids: list[int]) -> dict:
    """Redis commands per second and the daphnes' CPU (% of one core) over WINDOW seconds."""
    commands, spent, started = redis_commands(), cpu(pids), now()
    await asyncio.sleep(WINDOW)
    elapsed = now() - started
    return {
        "redis_commands_per_s": round((redis_commands() - commands) / elapsed, 1),
        "daphne_cpu_percent": round((cpu(pids) - spent) / elapsed * 100, 1),
    }


async def deliver(fleet: Fleet, api: users.Api, recipient: dict) -> float | None:
    cmid = f"idle-{uuid.uuid4().hex}"
    arrived = asyncio.get_running_loop().create_future()
    fleet.waiting[cmid] = arrived
    started = now()
    await asyncio.to_thread(
        api.call, "POST", "messages", {"to": recipient["user_id"], "content": "wake", "client_msg_id": cmid}
    )
    try:
        async with asyncio.timeout(30):
            return round((await arrived - started) * 1000, 1)
    except TimeoutError:
        fleet.waiting.pop(cmid, None)
        return None


def phase(service: system.Service, ws_url) -> dict:
    count = SOCKETS
    say(f"making {count} users")
    people = users.bulk("benchidle", count + 1)
    sender, idle = people[-1], people[:count]
    root = service.pid
    daphnes = daphne_pids(root)
    result: dict = {
        "sockets": count,
        "daphnes": len(daphnes),
        "source_addresses": 1 + (count - 1) // PER_ADDRESS,
        "daphne_open_files_limit": system.open_files_limit(daphnes[0]) if daphnes else None,
        "generator_open_files_limit": system.open_files_limit(os.getpid()),
    }

    async def run() -> None:
        await asyncio.sleep(10)  # what the system's start left to do (Celery's first polls, beat)
        say(f"{len(daphnes)} daphnes; the heartbeat's baseline over {WINDOW:g} s, no idle socket")
        result["baseline"] = await window(daphnes)
        rss_before = sum(system.rss_kb(pid) for pid in daphnes)
        generator_before = system.rss_kb(os.getpid())
        fleet = Fleet([ws_url(service.port, "token=" + p["token"]) for p in idle])
        started = now()
        fleet.start()
        if not await fleet.wait_ready(count, 3600, "connect"):
            raise RuntimeError("the idle sockets did not all connect within an hour")
        result["connect_seconds"] = round(now() - started, 1)
        result["connects_per_s"] = round(count / (now() - started), 1)
        await asyncio.sleep(5)
        rss_after = sum(system.rss_kb(pid) for pid in daphnes)
        inodes = client_inodes(service.port)
        result.update(
            rss_before_mb=round(rss_before / 1024, 1),
            rss_after_mb=round(rss_after / 1024, 1),
            kb_per_socket=round((rss_after - rss_before) / count, 1),
            sockets_per_daphne=[held_sockets(pid, inodes) for pid in daphnes],
            generator_kb_per_socket=round((system.rss_kb(os.getpid()) - generator_before) / count, 1),
        )
        say(f"{count} sockets ready in {result['connect_seconds']} s: {result['kb_per_socket']} KB each")
        result["idle"] = await window(daphnes)
        beats = WINDOW / max(1.0, float(os.environ.get("CHAT_HEARTBEAT_SECONDS") or 10))
        extra = result["idle"]["redis_commands_per_s"] - result["baseline"]["redis_commands_per_s"]
        result["heartbeat_redis_commands_per_s"] = round(extra, 1)
        result["heartbeat_redis_commands_per_socket_beat"] = round(extra * WINDOW / beats / count, 2)
        api = users.Api(service.port, sender["token"])
        try:
            times = [await deliver(fleet, api, idle[-1 - i * 7 % count]) for i in range(DELIVERIES)]
            result["delivery_ms"] = times[0]
            result["deliveries"] = percentiles([t / 1000 for t in times if t is not None])
            result["deliveries_missing"] = sum(t is None for t in times)
            if RESTART:
                await restart(fleet, root, daphnes, count, result)
                result["delivery_after_restart_ms"] = await deliver(fleet, api, idle[0])
        finally:
            api.close()
            say(f"closing {count} sockets")
            await fleet.stop()

    asyncio.run(run())
    return result


async def restart(fleet: Fleet, root: int, daphnes: list[int], count: int, result: dict) -> None:
    say(f"restarting the {len(daphnes)} daphnes (SIGTERM; supervisord starts them again)")
    fleet.restart_started = started = now()
    for pid in daphnes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    back = False
    while now() - started < 120:
        fresh = [pid for pid in daphne_pids(root) if pid not in daphnes]
        if len(fresh) >= len(daphnes):
            back = True
            break
        await asyncio.sleep(0.1)
    result["restart_daphnes_started_s"] = round(now() - started, 1) if back else None
    for _ in range(600):  # the old daphnes may take up to a minute to close their sockets
        if fleet.ready == 0 or fleet.dropped:
            break
        await asyncio.sleep(0.1)
    done = await fleet.wait_ready(count, RESTART_TIMEOUT, "reconnect")
    times = sorted(fleet.ready_at)

    def at(share: float) -> float | None:
        need = int(share * count)
        return round(times[need - 1], 1) if need and len(times) >= need else None

    result["restart"] = {
        "dropped": fleet.dropped,
        "reconnected": len(times),
        "all_back": done,
        "all_back_after_s": at(1.0),
        "half_back_after_s": at(0.5),
        "p90_back_after_s": at(0.9),
        "p99_back_after_s": at(0.99),
        "failed_attempts": fleet.failed_attempts,
    }


def print_summary(r: dict) -> None:
    back = r.get("restart") or {}
    print(
        f"idle     {r['sockets']} sockets on {r['daphnes']} daphnes {r.get('sockets_per_daphne')}:"
        f" {r.get('kb_per_socket')} KB each, connected in {r.get('connect_seconds')} s;"
        f" heartbeat {r.get('heartbeat_redis_commands_per_s')} Redis commands/s;"
        f" delivery {r.get('deliveries')} ms; restart: all back after {back.get('all_back_after_s')} s"
        f" ({back.get('failed_attempts')} failed attempts)"
    )
