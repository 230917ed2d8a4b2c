"""`make bench`: throughput, latency, loss and cost of the running system, against a bare relay.

Phases (skip any with BENCH_SKIP=load,rest,footprint,overload,idle,relay):
  load   start the system as `make run` does, N pairs over WebSockets (window or rate)
  rest   conversation-list and history-page latency on the warm path
  footprint  Redis bytes per user and per conversation, database bytes per message (of the data so far)
  overload  fresh pairs offered 3x the load's delivered/s, open loop: goodput, refusals, memory, recovery
  idle   BENCH_IDLE_SOCKETS (100,000) idle sockets on the system's daphnes: memory per socket, the
         heartbeat's Redis commands, deliveries to idle users, and every socket back after a restart
  relay  the same load against scripts/bench_relay.py (one daphne, nothing stored)
  scale  only when BENCH_SCALE=on: issue 19's data set a year old (BENCH_SCALE_*), loaded or resumed, then
         the reads, sends, mark-read and rebuild_redis on it (scripts/bench/scale.py, its own database)

BENCH_TARGET=single (the default) runs the system as `make run` does; BENCH_TARGET=cluster
runs `make cluster`'s three hosts behind haproxy instead (scripts/bench/cluster.py), where
idle and relay, single-machine phases, are skipped by default, and overload runs only
with BENCH_OVERLOAD=on.
docs/benchmarks.md explains every knob and figure.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import MySQLdb

from chat_project.common.queue_depth import QueueDepth

from . import cluster, footprint, idle, overload, system, users
from . import load as loadgen
from .cluster import APP_REDIS_PREFIX, ClusterService

PHASES = ("load", "rest", "footprint", "overload", "idle", "relay", "scale")
TARGETS = ("single", "cluster")
TARGET = os.environ.get("BENCH_TARGET", "single")
# Phases that measure one machine's processes: not run against the cluster unless asked (relay),
# or never (idle: it finds and restarts the daphnes under the launcher it started, on one Redis).
CLUSTER_DEFAULT_SKIP = "idle,relay"
CLUSTER_NEVER = {
    "idle": "the daphnes under a launcher this process started, on one Redis: a single-machine figure",
    "scale": "its own database and Redis prefix on this machine: a single-machine figure",
}


@dataclass
class Config:
    pairs: int = int(os.environ.get("BENCH_PAIRS", "20"))
    window: int = int(os.environ.get("BENCH_WINDOW", "2"))
    rate: float | None = float(os.environ.get("BENCH_RATE") or 0) or None
    seconds: float = float(os.environ.get("BENCH_SECONDS", "10"))
    messages: int = int(os.environ.get("BENCH_MESSAGES", "100"))
    grace: float = float(os.environ.get("BENCH_GRACE", "10"))
    conversations: int = int(os.environ.get("BENCH_CONVERSATIONS", "50"))
    rest_calls: int = int(os.environ.get("BENCH_REST_CALLS", "200"))
    skip: set[str] = field(
        default_factory=lambda: {
            p.strip()
            for p in os.environ.get("BENCH_SKIP", CLUSTER_DEFAULT_SKIP if TARGET == "cluster" else "").split(",")
            if p.strip()
        }
    )
    out: str = os.environ.get("BENCH_OUT", "bench-result.json")

    def load(self, name: str, pairs: list, run_id: str, queue_depth=None) -> loadgen.Load:
        return loadgen.Load(
            name=name,
            pairs=pairs,
            window=self.window,
            messages=self.messages,
            rate=self.rate,
            seconds=self.seconds,
            grace=self.grace,
            run_id=run_id,
            queue_depth=queue_depth,
        )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ws_url(port: int, query: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/chat/?{query}"


def measure(load: loadgen.Load, snapshot: Callable[[], dict], on_ready=None) -> tuple[loadgen.Tracker, dict]:
    """Drive ``load``; CPU per kind of process (``snapshot``, e.g. system.snapshot) meanwhile."""
    before: dict = {}
    after: dict = {}

    def ready() -> None:
        before.update(snapshot())
        if on_ready is not None:
            on_ready()

    async def run() -> loadgen.Tracker:
        track, senders, recipients = await loadgen.drive(load, on_sockets_ready=ready)
        after.update(snapshot())
        await loadgen.close_many(senders + recipients)
        return track

    track = asyncio.run(run())
    return track, cpu_figures(before, after, len(track.delivered))


def cpu_figures(before: dict, after: dict, delivered: int) -> dict:
    """CPU seconds per kind of process between two snapshots, and per 1000 messages delivered."""
    used, count = system.cpu_per_kind(before, after)
    return {
        "cpu_seconds": {kind: round(s, 2) for kind, s in sorted(used.items())},
        "cpu_s_per_1000_delivered": {
            kind: round(s / delivered * 1000, 3) if delivered else None for kind, s in sorted(used.items())
        },
        "processes": dict(sorted(count.items())),
    }


def realtime_queue_depth(service: system.Service) -> Callable[[], Awaitable[int]]:
    """An async callable: tasks waiting in the broker's realtime queue (the fan-out backlog), Redis or RabbitMQ."""
    if isinstance(service, ClusterService):
        reader = QueueDepth(service.app["CELERY_BROKER_URL"], "realtime")
    else:
        reader = QueueDepth(system.BROKER_URL, "realtime", system.BROKER_PREFIX)

    async def depth() -> int:
        return await asyncio.to_thread(reader.read)

    return depth


def register_pairs(port: int, names: list[str]) -> list[tuple[dict, dict]]:
    """Register ``names`` (senders, then as many recipients) over REST; pair them with their socket URLs."""
    made = users.register(port, names)
    people = [{**m, "url": ws_url(port, "token=" + m["token"])} for m in made]
    half = len(people) // 2
    return list(zip(people[:half], people[half:], strict=True))


# --- phases -------------------------------------------------------------------------


def product_phase(cfg: Config, service: system.Service, run_id: str) -> dict:
    port = service.port
    say(f"[load] registering {2 * cfg.pairs} users over REST")
    names = [f"b{run_id}s{i}" for i in range(cfg.pairs)] + [f"b{run_id}r{i}" for i in range(cfg.pairs)]
    pairs = register_pairs(port, names)
    spread: dict = {}
    queue_depth = realtime_queue_depth(service)
    if isinstance(service, ClusterService):
        track, cpu = measure(
            cfg.load("product", pairs, run_id, queue_depth),
            service.snapshot,
            on_ready=lambda: spread.update(service.spread()),
        )
    else:
        track, cpu = measure(cfg.load("product", pairs, run_id, queue_depth), lambda: system.snapshot([service.pid]))
    result = loadgen.summary(track)
    undelivered = result.pop("undelivered_acked")
    if spread:
        # haproxy's sessions per app node once every socket was open (leastconn spreads them).
        result["sockets_per_host"] = spread
    result.update(losses(service, pairs, track, run_id, undelivered, result["duplicated_push"]), **cpu)
    return result


def losses(
    service: system.Service, pairs: list, track: loadgen.Tracker, run_id: str, undelivered: list[str], pushed_twice: int
) -> dict:
    """Acked-but-undelivered split by whether the recipient's sync holds it; rows stored, and stored twice."""
    stored_not_pushed = check_sync(service.port, pairs, track, undelivered)
    stored, duplicated_stored = check_database(service.db_args, [s["user_id"] for s, _ in pairs], run_id)
    return {
        "lost": len(undelivered),
        "lost_stored_not_pushed": stored_not_pushed,
        "lost_not_stored": len(undelivered) - stored_not_pushed,
        "lost_sample": undelivered[:20],
        "stored": stored,
        "duplicated_stored": duplicated_stored,
        "duplicated": pushed_twice + duplicated_stored,
    }


def overload_phase(cfg: Config, service: system.Service, run_id: str, measured: float | None) -> dict:
    """Fresh pairs offered BENCH_OVERLOAD_FACTOR x capacity (scripts/bench/overload.py says what and why).

    ``measured``: the load phase's closed-loop delivered/s, when it ran in this run.
    """
    say(f"[overload] registering {2 * cfg.pairs + 2} users over REST")
    names = [f"b{run_id}os{i}" for i in range(cfg.pairs)] + [f"b{run_id}ps"]
    names += [f"b{run_id}or{i}" for i in range(cfg.pairs)] + [f"b{run_id}pr"]
    everyone = register_pairs(service.port, names)
    pairs, probe_pairs = everyone[:-1], everyone[-1:]
    if overload.CAPACITY:
        capacity, source = overload.CAPACITY, "BENCH_OVERLOAD_CAPACITY"
    elif measured:
        capacity, source = measured, "the load phase's closed loop"
    else:
        say(f"[overload] capacity first: closed loop, window {cfg.window}, {cfg.messages} per sender")
        capacity_load = loadgen.Load(
            name="capacity",
            pairs=pairs,
            window=cfg.window,
            messages=cfg.messages,
            grace=cfg.grace,
            run_id=run_id + "c",
        )
        capacity, source = overload.capacity(capacity_load), "a closed loop of its own"
    offered = overload.FACTOR * capacity
    say(f"[overload] capacity {capacity} msgs/s ({source}); offering {offered:.1f} msgs/s for {overload.SECONDS:g} s")
    outcome = overload.run(
        loadgen.Load(
            name="overload",
            pairs=pairs,
            rate=offered,
            seconds=overload.SECONDS,
            grace=cfg.grace,
            run_id=run_id + "o",
            queue_depth=realtime_queue_depth(service),
        ),
        loadgen.Load(
            name="recovery",
            pairs=probe_pairs,
            window=1,
            messages=overload.PROBE_MESSAGES,
            grace=cfg.grace,
            run_id=run_id + "p",
        ),
        service.snapshot if isinstance(service, ClusterService) else lambda: system.snapshot([service.pid]),
        # The cluster's Redis Cluster and layer are in its processes' RSS; its broker is RabbitMQ.
        {}
        if isinstance(service, ClusterService)
        else {"app": system.REDIS_URL, "broker": system.BROKER_URL, "layer": system.LAYER_URL},
    )
    result = overload.figures(outcome, capacity, offered)
    result["capacity_source"] = source
    result["seconds"] = overload.SECONDS
    undelivered = result.pop("undelivered_acked")
    result.update(
        losses(service, pairs, outcome.track, run_id + "o", undelivered, result["duplicated_push"]),
        **cpu_figures(outcome.before, outcome.after, len(outcome.track.delivered)),
    )
    return result


def check_sync(port: int, pairs: list, track: loadgen.Tracker, undelivered: list[str]) -> int:
    """How many acked-but-never-pushed messages the recipient's `GET sync` does hold."""
    missing_by_pair: dict[int, set[str]] = {}
    for cmid in undelivered:
        missing_by_pair.setdefault(track.owner[cmid], set()).add(cmid)
    found = 0
    for index, missing in missing_by_pair.items():
        sender, recipient = pairs[index]
        api = users.Api(port, recipient["token"])
        since, seen = 0, set[str | None]()
        for _ in range(1000):
            page = api.call("GET", f"sync?since={since}&limit=1000")
            seen.update(m.get("client_msg_id") for m in page["results"] if m["sender_id"] == sender["user_id"])
            if not page["has_more"]:
                break
            if page["next_since"] == since:
                time.sleep(1)
            since = page["next_since"]
        api.close()
        found += len(missing & seen)
    return found


def check_database(db_args: dict, sender_ids: list[int], run_id: str) -> tuple[int, int]:
    """(messages of this run stored, client_msg_ids stored more than once), in one query."""
    conn = MySQLdb.connect(**db_args)
    try:
        cursor = conn.cursor()
        marks = ",".join(["%s"] * len(sender_ids))
        cursor.execute(
            "SELECT client_msg_id, COUNT(*) FROM t_msg_record_list"
            f" WHERE sender_id IN ({marks}) AND client_msg_id LIKE %s GROUP BY client_msg_id",
            [*sender_ids, run_id + "-%"],
        )
        rows = cursor.fetchall()
    finally:
        conn.close()
    return len(rows), sum(1 for _, count in rows if count > 1)


def rest_phase(cfg: Config, service: system.Service, run_id: str) -> dict:
    """One user with ``conversations`` conversations, one of them 50 messages long; time the two reads."""
    port = service.port
    hub = users.register(port, [f"b{run_id}hub"])[0]
    peers = users.bulk("benchpeer", cfg.conversations, service.env)
    api = users.Api(port, hub["token"])
    say(f"[rest] {cfg.conversations} conversations and a 50-message history")
    for peer in peers + [peers[0]] * 49:
        api.call("POST", "messages", {"to": peer["user_id"], "content": "hello", "client_msg_id": uuid.uuid4().hex})
    limit = min(100, cfg.conversations)
    deadline = time.monotonic() + 60
    while len(api.call("GET", f"conversations?limit={limit}")["results"]) < limit and time.monotonic() < deadline:
        time.sleep(0.2)
    conversation = api.call("GET", f"conversations/with/{peers[0]['user_id']}")["conversation_id"]
    paths = {
        "conversation_list_ms": f"conversations?limit={limit}",
        "history_page_ms": f"conversations/{conversation}/messages?limit=50",
    }
    result: dict = {"conversations": cfg.conversations, "calls": cfg.rest_calls}
    for key, path in paths.items():
        for _ in range(10):
            api.timed(path)
        result[key] = loadgen.percentiles([api.timed(path) for _ in range(cfg.rest_calls)])
    api.close()
    return result


def relay_phase(cfg: Config, run_id: str) -> dict:
    port = system.free_port()
    command = system.daphne_command(port, system.RELAY_APP)
    relay = system.Service(
        "relay", command, port, system.bench_env(CHAT_CHANNEL_PREFIX=system.CHANNEL_PREFIX + "-relay")
    )
    try:
        people = [{"user_id": i + 1, "url": ws_url(port, f"user={i + 1}")} for i in range(2 * cfg.pairs)]
        pairs = list(zip(people[: cfg.pairs], people[cfg.pairs :], strict=True))
        track, cpu = measure(cfg.load("relay", pairs, run_id), lambda: system.snapshot([relay.pid]))
    finally:
        relay.stop()
    result = loadgen.summary(track)
    undelivered = result.pop("undelivered_acked")
    result.update(lost=len(undelivered), duplicated=result["duplicated_push"], **cpu)
    return result


def scale_phase(run_id: str) -> dict:
    """scripts/bench/scale.py in a process of its own (its own database and Redis prefix)."""
    out = os.path.join(os.environ.get("BENCH_LOG_DIR", "."), f"bench-scale-{run_id}.json")
    say("[scale] the data set a year old: loading (or resuming), then measuring")
    subprocess.run(
        [sys.executable, "-m", "scripts.bench.scale"], env={**os.environ, "BENCH_SCALE_OUT": out}, check=True
    )
    with open(out) as report:
        return json.load(report)


# --- the run ---------------------------------------------------------------------


def main() -> int:
    cfg = Config()
    unknown = cfg.skip - set(PHASES)
    if unknown:
        say(f"BENCH_SKIP: unknown phase(s) {sorted(unknown)}; phases are {', '.join(PHASES)}")
        return 2
    if TARGET not in TARGETS:
        say(f"BENCH_TARGET: {TARGET!r}; targets are {', '.join(TARGETS)}")
        return 2
    skipped = {phase: "BENCH_SKIP" for phase in PHASES if phase in cfg.skip}
    if TARGET == "cluster":
        if "BENCH_SKIP" not in os.environ:
            skipped.update(relay="a single-machine phase (BENCH_SKIP without relay runs it, on this machine)")
        # Like scale, only when asked: a BENCH_SKIP that names the other phases (tests/test_cluster.py's)
        # must not start a minute at three times the cluster's capacity.
        if os.environ.get("BENCH_OVERLOAD") != "on":
            cfg.skip.add("overload")
            skipped["overload"] = "a minute at 3x the cluster's capacity: BENCH_OVERLOAD=on runs it"
        for phase, reason in CLUSTER_NEVER.items():
            cfg.skip.add(phase)
            skipped[phase] = reason
    run_id = uuid.uuid4().hex[:8]
    report: dict = {
        "run": run_id,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
        "config": {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.__dict__.items()},
        "mode": f"open loop, {cfg.rate:g} msgs/s for {cfg.seconds:g} s"
        if cfg.rate
        else f"closed loop, window {cfg.window}, {cfg.messages} per sender",
        "generator_open_files_limit": system.raise_fd_limit(),
        "target": TARGET,
        "skipped": skipped,
    }
    if TARGET == "single":
        report.update(database=system.DB_NAME, redis_prefix=system.PREFIX)
        system.prepare_database(empty=True)
        system.clear_redis()
    else:
        # A new cluster each run: its database (Galera's `chat`), Redis Cluster, layer and queues start empty.
        report.update(database="chat (Galera, through haproxy's MySQL frontend)", redis_prefix=APP_REDIS_PREFIX)
    if any(p not in cfg.skip for p in ("load", "rest", "footprint", "overload")):
        port = system.free_port()
        service: system.Service
        if TARGET == "cluster":
            report["launcher"] = f"scripts/cluster.py up ({cluster.PREFIX}*, {cluster.SUBNET}, {cluster.DIR})"
            if cluster.ATTACH:
                report["launcher"] = f"the cluster already running, recorded in {cluster.DIR}"
            say(f"[system] {report['launcher']}")
            service = ClusterService(port)
            report["cluster"] = service.describe()
            say(f"[system] cluster ready in {service.ready_after} s")
        else:
            command = system.launcher_command(port)
            report["launcher"] = command
            say(f"[system] starting `{command}`")
            service = system.Service("system", command, port, system.bench_env())
            # The workers load Django on the same cores for a few seconds after /healthz answers: a
            # phase that started then measured that, and its first sends were refused as overload.
            say(f"[system] every process idle after {service.wait_until_idle()} s")
        try:
            if "load" not in cfg.skip:
                report["product"] = product_phase(cfg, service, run_id)
            if "rest" not in cfg.skip:
                report["rest"] = rest_phase(cfg, service, run_id)
            if "footprint" not in cfg.skip:
                # Before the idle phase: its sockets' users would count as users with no data.
                if isinstance(service, ClusterService):
                    report["footprint"] = footprint.measure(
                        lambda: MySQLdb.connect(**service.db_args), service.redis(), APP_REDIS_PREFIX
                    )
                else:
                    report["footprint"] = footprint.measure(lambda: MySQLdb.connect(**service.db_args))
            if "overload" not in cfg.skip:
                # After footprint (whose figures are the load's data). Capacity: the load's closed
                # loop, if it ran.
                product = report.get("product")
                measured = product["delivered_per_s"] if product and not cfg.rate else None
                report["overload"] = overload_phase(cfg, service, run_id, measured)
        finally:
            service.stop()
    if "idle" not in cfg.skip:
        # A system of its own: as many daphnes as its sockets need (scripts/bench/idle.py).
        report["idle"] = idle.phase(ws_url)
    if "relay" not in cfg.skip:
        report["relay"] = relay_phase(cfg, run_id)
    if os.environ.get("BENCH_SCALE") == "on" and "scale" not in cfg.skip:
        report["scale"] = scale_phase(run_id)
    product, relay = report.get("product"), report.get("relay")
    if product and relay and product["delivered_per_s"] is not None and relay["delivered_per_s"]:
        report["ratio_to_relay"] = round(product["delivered_per_s"] / relay["delivered_per_s"], 3)
    report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    with open(cfg.out, "w") as out:
        json.dump(report, out, indent=2)
    print_report(report)
    print(f"\nwritten to {cfg.out}")
    failed = 0
    for name in ("product", "overload"):
        r = report.get(name)
        if r and (r["lost"] or r["duplicated"]):
            print(f"CORRECTNESS ({name}): {r['lost']} lost, {r['duplicated']} duplicated")
            failed = 1
    return failed


def print_report(report: dict) -> None:
    machine = report["machine"]
    print(
        f"\nbench {report['run']} ({report['target']}): {report['mode']}, {report['config']['pairs']} pairs;"
        f" {machine['cores']} cores,"
        f" load average {machine['loadavg_before'][0]} before, {machine['loadavg_after'][0]} after"
    )
    if "cluster" in report:
        c = report["cluster"]
        print(f"cluster  {len(c['hosts'])} hosts ({c['prefix']}*), started in {c['started_in_s']} s")
    for phase, reason in report.get("skipped", {}).items():
        print(f"skipped  {phase}: {reason}")
    for name in ("product", "relay"):
        r = report.get(name)
        if not r:
            continue
        a, d = r["ack_ms"], r["deliver_ms"]
        print(
            f"{name:8} sent {r['sent']} acked {r['acked']} delivered {r['delivered']}"
            f" (after resync, by sync: {r.get('delivered_via_sync', 0)}) lost {r['lost']}"
            f" duplicated {r['duplicated']} errors {r['errors']}\n"
            f"         {r['delivered_per_s']} delivered/s (steady)"
            f" | ack p50/p90/p99/max {a['p50']}/{a['p90']}/{a['p99']}/{a['max']} ms"
            f" | deliver {d['p50']}/{d['p90']}/{d['p99']}/{d['max']} ms"
            f" | generator's loop late p99 {r['generator_loop_lag_ms']['p99']} ms"
        )
        if r.get("realtime_queue_max_depth") is not None:
            print(f"         realtime queue max depth {r['realtime_queue_max_depth']}")
        if r.get("sockets_per_host"):
            print(f"         sockets per host (haproxy) {r['sockets_per_host']}")
        per = ", ".join(f"{k} {v}" for k, v in r["cpu_s_per_1000_delivered"].items() if v)
        print(f"         CPU s per 1000 delivered: {per}")
    if "ratio_to_relay" in report:
        print(f"ratio    product delivered/s ÷ relay delivered/s = {report['ratio_to_relay']}")
    if "rest" in report:
        r = report["rest"]
        c, h = r["conversation_list_ms"], r["history_page_ms"]
        print(
            f"rest     conversation list ({r['conversations']}) p50/p99 {c['p50']}/{c['p99']} ms"
            f" | history page (50) p50/p99 {h['p50']}/{h['p99']} ms"
        )
    if "footprint" in report:
        r = report["footprint"]
        print(
            f"footprint Redis {r['redis_bytes_per_user']} B per user (with data), {r['redis_bytes_per_conversation']}"
            f" B per conversation; database {r['database_bytes_per_message']} B per message"
            f" ({r['messages']} messages, {r['conversations']} conversations, {r['users']} users)"
        )
    if "overload" in report:
        print_overload(report["overload"])
    if "idle" in report:
        idle.print_summary(report["idle"])


def print_overload(r: dict) -> None:
    a, f, d, g = r["ack_ms"], r["refusal_ms"], r["deliver_ms"], r["generator_loop_lag_ms"]
    refused = ", ".join(f"{code} {n}" for code, n in r["refused_codes"].items()) or "none"
    print(
        f"overload capacity {r['capacity_per_s']} msgs/s ({r['capacity_source']}),"
        f" offered {r['offered_per_s']}/s for {r['seconds']:g} s (sent {r['sent']}, {r['sent_per_s']}/s)\n"
        f"         acked {r['acked']} refused {r['refused']} ({refused};"
        f" without retry_after {r['refused_without_retry_after']}) other errors {r['errors_other']}"
        f" unanswered {r['unanswered']} | lost {r['lost']} (not stored {r['lost_not_stored']})"
        f" duplicated {r['duplicated']} refused but delivered {r['refused_but_delivered']}\n"
        f"         goodput {r['goodput_per_s']} delivered/s (steady) = {r['goodput_ratio']} of capacity"
        f" | ack p50/p99 {a['p50']}/{a['p99']} ms | refusal {f['p50']}/{f['p99']} ms"
        f" | deliver {d['p50']}/{d['p99']}/max {d['max']} ms\n"
        f"         realtime queue max depth {r['realtime_queue_max_depth']}"
        f" | last delivery {r['drained_after_s']} s after the last send"
        f" | generator's loop late p50/p99/max {g['p50']}/{g['p99']}/{g['max']} ms"
    )
    p = r["recovery"]
    pa, pd = p["ack_ms"], p["deliver_ms"]
    print(
        f"         recovery probe from +{p['started_after_s']} s: first acked and delivered at"
        f" +{p['first_acked_and_delivered_after_s']} s; acked {p['acked']}/{p['sent']} delivered"
        f" {p['delivered']}/{p['sent']} errors {p['errors'] or 0} | ack p50/p99 {pa['p50']}/{pa['p99']} ms"
        f" | deliver {pd['p50']}/{pd['p99']} ms"
    )
    memory = r["memory"]
    for label, figures in (("RSS MB", memory["rss_mb"]), ("Redis used MB", memory["redis_used_memory_mb"])):
        shown = ", ".join(f"{k} {v['start_mb']}/{v['max_mb']}/{v['end_mb']}" for k, v in figures.items())
        if shown:
            print(f"         {label} start/max/end: {shown}")
    per = ", ".join(f"{k} {v}" for k, v in r["cpu_s_per_1000_delivered"].items() if v)
    print(f"         CPU s per 1000 delivered: {per}")


if __name__ == "__main__":
    sys.exit(main())
