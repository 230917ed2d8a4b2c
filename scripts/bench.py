"""Throughput and latency benchmark of the running system (`make bench`).

Starts its own daphne and Celery realtime worker (rate limits off) on a free
port against the dev database, registers users, connects one WebSocket per
user, and has half of them send to the other half in closed loops. Reports
acks per second, ack latency (durable accept), delivery latency (send to the
recipient's `message` frame), conversation-page latency, and the daphne
process's memory. Numbers, not assertions: compare runs on the same machine.

    make bench                      # defaults
    BENCH_USERS=100 BENCH_MESSAGES=200 make bench
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
USERS = int(os.environ.get("BENCH_USERS", "40"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "100"))
RUN = uuid.uuid4().hex[:6]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(base: str, method: str, path: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Token " + token)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_load(base_ws: str, users: list[dict]) -> dict:
    half = len(users) // 2
    senders, recipients = users[:half], users[half:]
    sent_at: dict[str, float] = {}
    ack_latency: list[float] = []
    delivery_latency: list[float] = []
    delivered = 0
    done = asyncio.Event()
    total = half * MESSAGES

    async def open_socket(user):
        ws = await websockets.connect(f"{base_ws}/ws/chat/?token={user['token']}", max_size=None)
        assert json.loads(await ws.recv())["type"] == "ready"
        return ws

    recipient_sockets = [await open_socket(u) for u in recipients]
    sender_sockets = [await open_socket(u) for u in senders]

    async def listen(ws):
        nonlocal delivered
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "message":
                started = sent_at.get(frame["message"]["client_msg_id"])
                if started is not None:
                    delivery_latency.append(time.perf_counter() - started)
                delivered += 1
                if delivered >= total:
                    done.set()

    async def send_loop(ws, recipient):
        for _ in range(MESSAGES):
            client_msg_id = uuid.uuid4().hex
            sent_at[client_msg_id] = started = time.perf_counter()
            await ws.send(
                json.dumps(
                    {"type": "send", "to": recipient["user_id"], "content": "bench", "client_msg_id": client_msg_id}
                )
            )
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack" and frame["client_msg_id"] == client_msg_id:
                    ack_latency.append(time.perf_counter() - started)
                    break
                if frame["type"] == "error":
                    raise RuntimeError(frame)

    listeners = [asyncio.create_task(listen(ws)) for ws in recipient_sockets]
    began = time.perf_counter()
    await asyncio.gather(*(send_loop(ws, r) for ws, r in zip(sender_sockets, recipients, strict=True)))
    accept_seconds = time.perf_counter() - began
    try:
        await asyncio.wait_for(done.wait(), timeout=120)
    except TimeoutError:
        pass
    deliver_seconds = time.perf_counter() - began
    for task in listeners:
        task.cancel()
    for ws in recipient_sockets + sender_sockets:
        await ws.close()
    return {
        "messages": total,
        "acks_per_s": total / accept_seconds,
        "ack_p50_ms": percentile(ack_latency, 0.5),
        "ack_p99_ms": percentile(ack_latency, 0.99),
        "delivered": delivered,
        "delivered_per_s": delivered / deliver_seconds,
        "delivery_p50_ms": percentile(delivery_latency, 0.5) if delivery_latency else None,
        "delivery_p99_ms": percentile(delivery_latency, 0.99) if delivery_latency else None,
    }


def main() -> int:
    port = free_port()
    env = {**os.environ, "CHAT_RATE_LIMITS": "off", "DJANGO_DEBUG": "off", "CHAT_LOG_LEVEL": "WARNING"}
    venv_bin = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [str(venv_bin / "daphne"), "-b", "127.0.0.1", "-p", str(port), "chat_project.asgi:application"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                str(venv_bin / "celery"),
                "-A",
                "chat_project",
                "worker",
                "-Q",
                "realtime,retry",
                "--concurrency",
                "2",
                "-n",
                f"bench-{RUN}@%h",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        users = [
            rest(
                base,
                "POST",
                "/api/v1/auth/register",
                {"username": f"bench{RUN}u{i}", "password": "bench-pass-123", "nickname": f"B{i}"},
            )
            for i in range(USERS)
        ]
        result = asyncio.run(run_load(f"ws://127.0.0.1:{port}", users))
        page_times = []
        for _ in range(200):
            started = time.perf_counter()
            rest(base, "GET", "/api/v1/conversations?limit=20", token=users[-1]["token"])
            page_times.append(time.perf_counter() - started)
        result["conversation_page_p50_ms"] = percentile(page_times, 0.5)
        result["conversation_page_p99_ms"] = percentile(page_times, 0.99)
        result["daphne_rss_mb"] = rss_mb(procs[0].pid)
        print(f"machine: {os.cpu_count()} cores; users {USERS}, {MESSAGES} messages per sender")
        for name, value in result.items():
            print(f"{name:28} {value:.1f}" if isinstance(value, float) else f"{name:28} {value}")
        return 0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
