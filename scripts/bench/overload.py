"""The `overload` phase: an open loop offering a multiple of what the system delivers.

The question (issue, part 3): past its capacity, does the server keep
delivering near it and refuse the rest early (`unavailable` or `rate_limited`
with `retry_after`) instead of queueing it until it is seconds late; is
nothing lost or doubled; does memory stay bounded; does it recover at once
when the load stops? This module only measures: a server that refuses
nothing gets the same figures (no refusals, a growing backlog, late acks).

Capacity is BENCH_OVERLOAD_CAPACITY when set, else the load phase's
closed-loop delivered/s when it ran, else a closed loop of this phase's own. The offered
load is load.py's open loop at BENCH_OVERLOAD_FACTOR x capacity for
BENCH_OVERLOAD_SECONDS; a refused send is never sent again, so every send is
acked, refused, otherwise errored or unanswered. The moment the last send
went out, a fresh pair's sockets (opened and warmed up before the overload)
wait one second and then send closed loop, window 1: how long until the
system answers a newcomer as it did before. Meanwhile a thread samples the
RSS of every measured process and Redis's used_memory every half second.
"""

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import redis

from . import load as loadgen
from . import system

FACTOR = float(os.environ.get("BENCH_OVERLOAD_FACTOR", "3"))
SECONDS = float(os.environ.get("BENCH_OVERLOAD_SECONDS", "60"))
# msgs/s taken as the capacity instead of measuring it (a tiny test run's own load is too short to tell).
CAPACITY = float(os.environ.get("BENCH_OVERLOAD_CAPACITY") or 0) or None
PROBE_MESSAGES = int(os.environ.get("BENCH_OVERLOAD_PROBE_MESSAGES", "20"))
# The probe starts this long after the last offered send: "at once", not after the backlog drained.
PROBE_DELAY = 1.0
SAMPLE_EVERY = 0.5
REFUSALS = ("unavailable", "rate_limited")


@dataclass
class Memory:
    """RSS per kind of process (``snapshot``'s kinds) and used_memory per Redis server, sampled by a thread.

    ``redis_urls``: role (app, broker, layer) -> URL; roles on one server
    (host:port) are sampled once, under their joined names.
    """

    snapshot: Callable[[], dict[int, tuple[str, float]]]
    redis_urls: dict[str, str]
    samples: list[dict[str, float]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        servers: dict[str, list[str]] = {}
        for role, url in self.redis_urls.items():
            servers.setdefault(urlsplit(url).netloc, []).append(role)
        self.clients = {
            "redis[" + "+".join(roles) + "]": redis.Redis.from_url(self.redis_urls[roles[0]], socket_timeout=2)
            for roles in servers.values()
        }
        self.thread = threading.Thread(target=self.run, name="overload-memory", daemon=True)

    def sample(self) -> None:
        mb: dict[str, float] = {}
        for pid, (kind, _cpu) in self.snapshot().items():
            with contextlib.suppress(OSError):
                mb[kind] = mb.get(kind, 0.0) + system.rss_kb(pid) / 1024
        for name, client in self.clients.items():
            with contextlib.suppress(redis.RedisError):
                mb[name] = int(cast(dict, client.info("memory"))["used_memory"]) / 2**20
        self.samples.append(mb)

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_EVERY):
            self.sample()

    def start(self) -> None:
        self.sample()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.sample()
        for client in self.clients.values():
            client.close()

    def figures(self) -> dict:
        """{"rss_mb": {kind: {start, max, end}}, "redis_used_memory_mb": {server: {...}}, "samples": n}."""
        rss: dict[str, dict[str, float]] = {}
        used: dict[str, dict[str, float]] = {}
        names = sorted({name for sample in self.samples for name in sample})
        for name in names:
            values = [sample[name] for sample in self.samples if name in sample]
            into = used if name in self.clients else rss
            into[name] = {
                "start_mb": round(values[0], 1),
                "max_mb": round(max(values), 1),
                "end_mb": round(values[-1], 1),
            }
        return {"rss_mb": rss, "redis_used_memory_mb": used, "samples": len(self.samples)}


def capacity(load: loadgen.Load) -> float:
    """Delivered msgs/s of a closed loop (``load``), as the load phase measures it."""

    async def run() -> loadgen.Tracker:
        track, senders, recipients = await loadgen.drive(load)
        await loadgen.close_many(senders + recipients)
        return track

    rate = loadgen.steady_rate(asyncio.run(run()))
    if not rate:
        raise RuntimeError(f"[{load.name}] no steady delivered/s: too short a closed loop to measure capacity")
    return rate


@dataclass
class Outcome:
    track: loadgen.Tracker
    probe: loadgen.Tracker
    before: dict  # snapshot() when the overload's sockets were ready
    after: dict  # and after the grace wait and the probe
    memory: dict


def run(
    load: loadgen.Load,
    probe: loadgen.Load,
    snapshot: Callable[[], dict[int, tuple[str, float]]],
    redis_urls: dict[str, str],
) -> Outcome:
    """Drive the open-loop ``load``; the closed-loop ``probe`` starts PROBE_DELAY after its last send."""
    memory = Memory(snapshot, redis_urls)
    before: dict = {}

    def ready() -> None:
        before.update(snapshot())
        memory.start()

    async def go() -> Outcome:
        probe_senders = await loadgen.connect_many([s["url"] for s, _ in probe.pairs])
        probe_recipients = await loadgen.connect_many([r["url"] for _, r in probe.pairs])
        await loadgen.warm_up(probe, probe_senders, probe_recipients)
        probed: list[loadgen.Tracker] = []

        async def recover() -> None:
            await asyncio.sleep(PROBE_DELAY)
            track, _, _ = await loadgen.drive(probe, sockets=(probe_senders, probe_recipients))
            probed.append(track)

        track, senders, recipients = await loadgen.drive(load, on_sockets_ready=ready, after_sending=recover)
        after = snapshot()
        memory.stop()
        await loadgen.close_many(senders + recipients + probe_senders + probe_recipients)
        return Outcome(track, probed[0], before, after, memory.figures())

    try:
        return asyncio.run(go())
    finally:
        if memory.thread.is_alive():
            memory.stop()


def figures(outcome: Outcome, capacity_per_s: float, offered_per_s: float) -> dict:
    """The phase's figures, load.summary's among them (delivered_per_s renamed goodput_per_s)."""
    track, probe = outcome.track, outcome.probe
    result = loadgen.summary(track)
    goodput = result.pop("delivered_per_s")
    refused: dict[str, int] = {}
    other: dict[str, int] = {}
    without_retry_after = 0
    refused_ids = []
    for cmid, frame in track.errors.items():
        if cmid in track.acked:
            continue
        code = frame.get("code", "?")
        if code in REFUSALS:
            refused[code] = refused.get(code, 0) + 1
            refused_ids.append(cmid)
            without_retry_after += frame.get("retry_after") is None
        else:
            other[code] = other.get(code, 0) + 1
    sending = track.sending_done - track.started
    result.update(
        capacity_per_s=capacity_per_s,
        offered_per_s=round(offered_per_s, 1),
        sent_per_s=round(len(track.sent) / sending, 1) if sending > 0 else None,
        refused=sum(refused.values()),
        refused_codes=refused,
        refused_without_retry_after=without_retry_after,
        # A refused send the recipient got anyway: a refusal says nothing was stored (send it again).
        refused_but_delivered=sum(1 for cmid in refused_ids if cmid in track.delivered),
        errors_other=sum(other.values()),
        errors_other_codes=other,
        unanswered=sum(1 for cmid in track.sent if cmid not in track.acked and cmid not in track.errors),
        goodput_per_s=goodput,
        goodput_ratio=round(goodput / capacity_per_s, 3) if goodput and capacity_per_s else None,
        refusal_ms=loadgen.percentiles([track.error_at[c] - track.sent[c] for c in refused_ids]),
        drained_after_s=round(max(track.delivered.values()) - track.sending_done, 2) if track.delivered else None,
        memory=outcome.memory,
        recovery=recovery(track, probe),
    )
    return result


def recovery(track: loadgen.Tracker, probe: loadgen.Tracker) -> dict:
    """The probe's figures; times in seconds from the overload's last send."""
    both = [max(probe.acked[c], probe.delivered[c]) for c in probe.acked if c in probe.delivered]
    return {
        "sent": len(probe.sent),
        "acked": len(probe.acked),
        "delivered": len(probe.delivered),
        "errors": loadgen.error_codes(probe),
        "started_after_s": round(probe.started - track.sending_done, 2),
        "first_acked_and_delivered_after_s": round(min(both) - track.sending_done, 2) if both else None,
        "ack_ms": loadgen.percentiles([probe.acked[c] - probe.sent[c] for c in probe.acked]),
        "deliver_ms": loadgen.percentiles([t - probe.sent[c] for c, t in probe.delivered.items()]),
    }
