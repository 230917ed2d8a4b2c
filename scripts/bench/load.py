"""The load generator: one WebSocket per user, each sender sends to its partner.

Closed loop (``window``: up to W sends in flight per sender, ``messages``
per sender) or open loop (``rate`` msgs/s across all senders for
``seconds``; a refused send is never sent again). Every message is tracked by its client_msg_id: send time, ack
time, first push to the recipient's socket, and how many pushes it got.
"""

import asyncio
import contextlib
import json
import math
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import websockets

now = time.perf_counter


async def connect(url: str, timeout: float = 120, **kwargs):
    """Open a socket and wait for its ``ready`` frame (``kwargs``: the event loop's ``create_connection``'s)."""
    ws = await websockets.connect(
        url, max_size=None, open_timeout=timeout, ping_interval=None, compression=None, proxy=None, **kwargs
    )
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except BaseException:
        await ws.close()
        raise
    if frame.get("type") != "ready":
        await ws.close()
        raise RuntimeError(f"expected ready, got {frame}")
    return ws


async def connect_many(urls: list[str], concurrency: int = 50, label: str = "") -> list:
    gate = asyncio.Semaphore(concurrency)
    opened = 0

    async def one(url: str):
        nonlocal opened
        async with gate:
            ws = await connect(url)
        opened += 1
        return ws

    async def progress():
        while True:
            await asyncio.sleep(1)
            print(f"[{label}] {opened}/{len(urls)} sockets ready", file=sys.stderr, flush=True)

    reporter = asyncio.create_task(progress()) if label else None
    try:
        return await asyncio.gather(*(one(url) for url in urls))
    finally:
        if reporter is not None:
            reporter.cancel()


async def close_many(sockets: list, timeout: float = 60) -> None:
    async def one(ws):
        with contextlib.suppress(Exception):
            await ws.close()

    try:
        await asyncio.wait_for(asyncio.gather(*(one(ws) for ws in sockets)), timeout)
    except TimeoutError:
        for ws in sockets:
            ws.transport.abort()


def _get_json(request: urllib.request.Request) -> dict:
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@dataclass
class Tracker:
    """What happened to every message of one load run."""

    sent: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    pushes: dict[str, int] = field(default_factory=dict)
    # Messages a recipient got from `GET sync` after a `resync` frame (a push
    # the channel layer dropped): delivered, as a client following
    # PROTOCOL.md gets them, but counted apart.
    via_sync: set[str] = field(default_factory=set)
    resyncs: int = 0
    errors: dict[str, dict] = field(default_factory=dict)
    error_at: dict[str, float] = field(default_factory=dict)  # when each error frame came back
    owner: dict[str, int] = field(default_factory=dict)  # client_msg_id -> pair index
    started: float = 0.0
    sending_done: float = 0.0
    finished: float = 0.0
    queue_max: int | None = None
    last_progress: float = 0.0
    # How late the generator's own event loop ran a 10 ms timer (seconds), sampled through the run:
    # on a machine whose cores it shares, every time it measures is this late too.
    loop_lag: list[float] = field(default_factory=list)

    def settled(self) -> bool:
        acked = len(self.acked)
        return len(self.acked) + len(self.errors) >= len(self.sent) and len(self.delivered) >= acked


@dataclass
class Load:
    """A load: pairs of (sender, recipient) socket URLs and user ids, and how hard to drive them."""

    name: str
    pairs: list[tuple[dict, dict]]  # ({"user_id", "url"}, {"user_id", "url"})
    window: int = 2
    messages: int = 100
    rate: float | None = None
    seconds: float = 10.0
    grace: float = 10.0
    run_id: str = "run"
    queue_depth: Callable[[], Awaitable[int]] | None = None


async def drive(
    load: Load,
    on_sockets_ready: Callable[[], None] | None = None,
    sockets: tuple[list, list] | None = None,
    after_sending: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> tuple[Tracker, list, list]:
    """Run the load; return the tracker and the (still open) sender and recipient sockets.

    ``sockets``: (senders, recipients) already open and warmed up, so that a
    load can start at a chosen moment without connecting first (the overload
    phase's recovery probe). ``after_sending`` starts the moment the last
    send went out, runs beside the wait for the stragglers, and is awaited
    before this returns.
    """
    track = Tracker()
    if sockets is None:
        senders = await connect_many([s["url"] for s, _ in load.pairs], label=load.name + " senders")
        recipients = await connect_many([r["url"] for _, r in load.pairs], label=load.name + " recipients")
        await warm_up(load, senders, recipients)
    else:
        senders, recipients = sockets
    slots = [asyncio.Semaphore(load.window) for _ in load.pairs]
    catch_ups: set[asyncio.Future] = set()  # the running catch-ups (the loop keeps only weak references)

    def progress() -> None:
        track.last_progress = now()

    async def read_sender(index: int, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            cmid = frame.get("client_msg_id")
            if kind == "ack" and cmid in track.sent and cmid not in track.acked:
                track.acked[cmid] = now()
                slots[index].release()
                progress()
            elif kind == "error" and cmid in track.sent and cmid not in track.errors:
                track.errors[cmid] = frame
                track.error_at[cmid] = now()
                slots[index].release()
                progress()

    async def catch_up(url: str) -> None:
        """What a client does on `resync`: page through `GET sync` and keep what it lacked."""
        base, _, query = url.partition("/ws/chat/?")
        base = base.replace("ws://", "http://", 1)
        token = dict(part.split("=", 1) for part in query.split("&"))["token"]
        since = 0
        while True:
            request = urllib.request.Request(
                f"{base}/api/v1/sync?since={since}&limit=1000", headers={"Authorization": "Token " + token}
            )
            page = await asyncio.to_thread(_get_json, request)
            for message in page["results"]:
                cmid = message.get("client_msg_id")
                if cmid in track.sent and cmid not in track.delivered:
                    track.delivered[cmid] = now()
                    track.via_sync.add(cmid)
                    progress()
            if not page["has_more"]:
                return
            since = page["next_since"]

    async def read_recipient(ws, url: str) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "resync":
                track.resyncs += 1
                task = asyncio.ensure_future(catch_up(url))
                catch_ups.add(task)
                task.add_done_callback(catch_ups.discard)
                continue
            if frame.get("type") != "message":
                continue
            cmid = (frame.get("message") or {}).get("client_msg_id")
            if cmid in track.sent:
                track.pushes[cmid] = track.pushes.get(cmid, 0) + 1
                if cmid not in track.delivered:
                    track.delivered[cmid] = now()
                    progress()

    async def send(index: int, serial: int) -> None:
        cmid = f"{load.run_id}-{index}-{serial}"
        _sender, recipient = load.pairs[index]
        track.owner[cmid] = index
        track.sent[cmid] = now()
        frame = {"type": "send", "to": recipient["user_id"], "content": f"bench {serial}", "client_msg_id": cmid}
        await senders[index].send(json.dumps(frame))

    async def closed_loop(index: int) -> None:
        for serial in range(load.messages):
            try:
                await asyncio.wait_for(slots[index].acquire(), 60)
            except TimeoutError:
                print(f"[{load.name}] sender {index}: no ack for 60 s, stops", file=sys.stderr, flush=True)
                return
            await send(index, serial)

    async def open_loop(rate: float) -> None:
        total = int(rate * load.seconds)
        done = 0
        serials = [0] * len(load.pairs)
        while done < total:
            due = min(total, int((now() - track.started) * rate) + 1)
            while done < due:
                index = done % len(load.pairs)
                await send(index, serials[index])
                serials[index] += 1
                done += 1
            await asyncio.sleep(max(0.0, track.started + done / rate - now()))

    async def sample_queue(queue_depth: Callable[[], Awaitable[int]]) -> None:
        while True:
            with contextlib.suppress(Exception):
                depth = await queue_depth()
                track.queue_max = max(track.queue_max or 0, depth)
            await asyncio.sleep(0.1)

    async def watch_loop() -> None:
        while True:
            started = now()
            await asyncio.sleep(0.01)
            track.loop_lag.append(now() - started - 0.01)

    async def report() -> None:
        last_delivered, last_time = 0, now()
        while True:
            await asyncio.sleep(1)
            t, delivered = now(), len(track.delivered)
            rate = (delivered - last_delivered) / (t - last_time)
            last_delivered, last_time = delivered, t
            queue = f" | realtime queue max {track.queue_max}" if track.queue_max is not None else ""
            print(
                f"[{load.name} {t - track.started:5.1f}s] sent {len(track.sent)} acked {len(track.acked)} "
                f"delivered {delivered} errors {len(track.errors)} | {rate:.0f} delivered/s{queue}",
                file=sys.stderr,
                flush=True,
            )

    if on_sockets_ready is not None:
        on_sockets_ready()
    readers = [asyncio.create_task(read_sender(i, ws)) for i, ws in enumerate(senders)]
    readers += [
        asyncio.create_task(read_recipient(ws, r["url"])) for ws, (_, r) in zip(recipients, load.pairs, strict=True)
    ]
    helpers = [asyncio.create_task(report()), asyncio.create_task(watch_loop())]
    if load.queue_depth is not None:
        helpers.append(asyncio.create_task(sample_queue(load.queue_depth)))
    track.started = track.last_progress = now()
    if load.rate:
        await open_loop(load.rate)
    else:
        await asyncio.gather(*(closed_loop(i) for i in range(len(load.pairs))))
    track.sending_done = now()
    follow = asyncio.create_task(after_sending()) if after_sending is not None else None
    # Wait for the stragglers: until everything acked is delivered, or nothing moved for `grace` seconds.
    while not track.settled() and now() - track.last_progress < load.grace:  # noqa: ASYNC110 - also a quiet-time limit
        await asyncio.sleep(0.05)
    track.finished = now()
    if follow is not None:
        await follow
    for task in readers + helpers:
        task.cancel()
    return track, senders, recipients


async def warm_up(load: Load, senders: list, recipients: list, timeout: float = 90) -> None:
    """One untracked message per pair, acked and delivered, before the clock starts.

    Workers, connection pools and code paths are warm then, and a system whose
    fan-out does not run at all fails here instead of reporting everything lost.
    """

    async def one(index: int) -> None:
        cmid = f"warm-{load.run_id}-{index}"
        frame = {"type": "send", "to": load.pairs[index][1]["user_id"], "content": "warm-up", "client_msg_id": cmid}
        await senders[index].send(json.dumps(frame))
        while True:
            reply = json.loads(await senders[index].recv())
            if reply.get("client_msg_id") == cmid and reply.get("type") in ("ack", "error"):
                if reply["type"] == "error":
                    raise RuntimeError(f"warm-up send rejected: {reply}")
                break
        while True:
            pushed = json.loads(await recipients[index].recv())
            if pushed.get("type") == "message" and pushed["message"].get("client_msg_id") == cmid:
                break

    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(one(i) for i in range(len(load.pairs))))
    except TimeoutError:
        raise RuntimeError(f"[{load.name}] warm-up messages not acked and delivered within {timeout:.0f} s") from None


# --- figures ---------------------------------------------------------------------


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p90/p99 and the maximum, in milliseconds."""
    if not seconds:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(seconds)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 1)

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 1)}


def steady_rate(track: Tracker) -> float | None:
    """Delivered msgs/s between 10 % and 90 % of the run (first send to last delivery)."""
    if not track.delivered:
        return None
    times = sorted(track.delivered.values())
    span = times[-1] - track.started
    low, high = track.started + 0.1 * span, track.started + 0.9 * span
    if high <= low:
        return None
    inside = sum(1 for t in times if low <= t <= high)
    return round(inside / (high - low), 1)


def error_codes(track: Tracker) -> dict[str, int]:
    """How many ``error`` frames came back, by code."""
    codes: dict[str, int] = {}
    for frame in track.errors.values():
        codes[frame.get("code", "?")] = codes.get(frame.get("code", "?"), 0) + 1
    return codes


def summary(track: Tracker) -> dict:
    acked = track.acked.keys()
    return {
        "sent": len(track.sent),
        "acked": len(track.acked),
        "errors": len(track.errors),
        "error_codes": error_codes(track),
        "delivered": len(track.delivered),
        "undelivered_acked": sorted(c for c in acked if c not in track.delivered),
        "duplicated_push": sum(1 for n in track.pushes.values() if n > 1),
        "delivered_via_sync": len(track.via_sync),
        "resync_frames": track.resyncs,
        "delivered_per_s": steady_rate(track),
        "sending_seconds": round(track.sending_done - track.started, 2),
        "run_seconds": round(track.finished - track.started, 2),
        "ack_ms": percentiles([track.acked[c] - track.sent[c] for c in acked]),
        "deliver_ms": percentiles([t - track.sent[c] for c, t in track.delivered.items()]),
        "realtime_queue_max_depth": track.queue_max,
        "generator_loop_lag_ms": percentiles(track.loop_lag),
    }
