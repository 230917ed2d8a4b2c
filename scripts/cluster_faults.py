"""Faults injected into a running `make cluster`, by hand or by tests/test_cluster_faults.py.

    scripts/cluster.py fault NAME [--host N]            inject (what it did: JSON)
    scripts/cluster.py fault NAME --restore             undo it and wait until healed
    scripts/cluster.py fault NAME [--host N] --for S    inject, wait S seconds, restore

Every fault acts on what scripts/cluster.py up recorded (its state file): a
process is found by its recorded pid, never by its name, and a restarted
engine is recorded again under its name. What an injection did (which node
was killed, which host was cut off) is kept in ``faults.json`` beside the
state file, for ``--restore``. Restoring waits until the cluster is whole
again (engine members, haproxy's servers) and returns the seconds it took.
docs/deployment.md ("Fault runbook") says what an operator sees for each.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cluster as topology
from cluster import (
    DIR,
    HOSTS,
    LAYER_PORT,
    PYTHON,
    REDIS_CLUSTER_PORTS,
    ROOT,
    Cluster,
    Host,
    app_env,
    galera_status,
    haproxy_command,
    haproxy_servers,
    host_by_arg,
    hosts,
    rabbit_env,
    redis,
    sh,
    start_time,
)

FAULTS_FILE = DIR / "faults.json"
HEAL_TIMEOUT = 180


def load() -> Cluster:
    cluster = Cluster.load()
    if cluster is None:
        raise SystemExit(f"No cluster running (no {topology.STATE_FILE}): start one with make cluster.")
    return cluster


def wait(what: str, ready: Callable[[], object], timeout: float = HEAL_TIMEOUT, interval: float = 0.5) -> float:
    """Poll ``ready`` (exceptions count as not yet); the seconds it took, or RuntimeError."""
    started = time.monotonic()
    last: Exception | None = None
    while True:
        try:
            if ready():
                return time.monotonic() - started
        except Exception as exc:
            last = exc
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)


def kill_recorded(cluster: Cluster, name: str, sig: int = signal.SIGKILL) -> int:
    """``sig`` to a recorded process's group (kill -9 takes its children too); its pid."""
    entry = cluster.state["processes"][name]
    if start_time(entry["pid"]) != entry["start"]:
        raise RuntimeError(f"{name} (pid {entry['pid']}) is not running")
    cluster.signal(name, sig)
    return entry["pid"]


def restart_recorded(cluster: Cluster, name: str, argv: list[str], host: Host, **kwargs: Any) -> None:
    """Start ``name`` again (same argv as up) and record it in the state file."""
    entry = cluster.state["processes"].get(name)
    if entry and start_time(entry["pid"]) == entry["start"]:
        return
    cluster.start(name, argv, host, **kwargs)


# --- what each engine looks like -------------------------------------------------------


def galera_argv(host: Host) -> list[str]:
    return ["/usr/sbin/mariadbd", f"--defaults-file={host.dir / 'galera.cnf'}"]


def galera_whole() -> bool:
    for host in hosts():
        status = galera_status(host)
        if status["wsrep_local_state_comment"] != "Synced" or status["wsrep_cluster_size"] != str(HOSTS):
            return False
    return True


def db_writer() -> Host:
    """The Galera node haproxy's mysql frontend sends to: the first UP server, backups last."""
    rows = [r for r in haproxy_servers() if r["pxname"] == "mysql" and r["status"] == "UP"]
    rows.sort(key=lambda r: r.get("bck") == "1")
    if not rows:
        raise RuntimeError("haproxy has no UP database server")
    return host_by_arg(rows[0]["svname"])


def app_up(host: Host) -> bool:
    return any(
        r["pxname"] == "app" and r["svname"] == host.name and r["status"] in ("UP", "DRAIN") for r in haproxy_servers()
    )


def apps_up() -> bool:
    return all(app_up(host) for host in hosts())


def redis_cluster_masters() -> dict[str, tuple[Host, int]]:
    """node id -> (host, port) of every Redis Cluster master that holds slots."""
    masters = {}
    for line in topology.redis_cluster_nodes().splitlines():
        fields = line.split()
        if len(fields) >= 9 and "master" in fields[2] and "fail" not in fields[2]:
            ip, port = fields[1].split("@")[0].rsplit(":", 1)
            masters[fields[0]] = (host_by_arg(ip), int(port))
    return masters


def layer_master_of(shard: int) -> tuple[str, int]:
    """(ip, port) of a channel-layer shard's master, as the Sentinels say."""
    for host in hosts():
        with contextlib.suppress(Exception):
            ip, port = redis(host, topology.SENTINEL_PORT).sentinel_get_master_addr_by_name(f"layer{shard}")
            return ip, int(port)
    raise RuntimeError("no Sentinel answers")


def rabbit_running() -> int:
    cluster = load()
    return len(topology.rabbitmq_cluster_status(cluster).get("running_nodes", []))


def host_processes(host: Host, needle: str) -> list[int]:
    """Pids in ``host``'s namespace whose command line contains ``needle``."""
    found = []
    for pid in sh("ip", "netns", "pids", host.name, check=False).stdout.split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(pid))
    return found


def daphnes(host: Host) -> list[int]:
    return host_processes(host, "bin/daphne ")


def established(host: Host, port: int = topology.APP_PORT) -> int:
    """Established TCP connections to the app's port on ``host`` (WebSockets and keep-alives)."""
    out = sh("ip", "netns", "exec", host.name, "ss", "-Htn", "state", "established", f"( sport = :{port} )").stdout
    return len([line for line in out.splitlines() if line.strip()])


def manage(host: Host, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cluster = load()
    return subprocess.run(
        host.wrap([str(PYTHON), "manage.py", *args]),
        env=app_env(host, cluster.state),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- the faults --------------------------------------------------------------------------


def daphne_kill(host: Host) -> dict[str, Any]:
    pids = daphnes(host)
    if not pids:
        raise RuntimeError(f"no daphne runs on {host.name}")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return {"host": host.index, "pids": pids}


def daphne_kill_restore(info: dict) -> float:
    host = Host(info["host"])
    # supervisord restarts it; haproxy sees it UP again after its checks (rise 2).
    return wait(f"a new daphne on {host.name}", lambda: set(daphnes(host)) - set(info["pids"]) and app_up(host))


def drain(host: Host) -> dict[str, Any]:
    started = time.monotonic()
    answer = haproxy_command(f"set server app/{host.name} state drain").strip()
    if answer:
        raise RuntimeError(f"haproxy: {answer}")
    before = established(host)
    done = manage(host, "drain_sockets", "--batch", "20", "--interval", "0.5")
    if done.returncode != 0:
        raise RuntimeError(f"drain_sockets failed: {done.stdout}{done.stderr}")
    wait(f"no socket left on {host.name}", lambda: established(host) == 0, timeout=120, interval=0.2)
    return {"host": host.index, "connections_before": before, "drain_seconds": round(time.monotonic() - started, 2)}


def drain_restore(info: dict) -> float:
    host = Host(info["host"])
    started = time.monotonic()
    done = manage(host, "drain_sockets", "--cancel")
    if done.returncode != 0:
        raise RuntimeError(f"drain_sockets --cancel failed: {done.stdout}{done.stderr}")
    haproxy_command(f"set server app/{host.name} state ready")
    wait(f"{host.name} UP in haproxy", lambda: app_up(host))
    return time.monotonic() - started


def redis_master_kill(host: Host) -> dict[str, Any]:
    masters = [(h, p) for h, p in redis_cluster_masters().values() if h == host]
    if not masters:
        raise RuntimeError(f"no Redis Cluster master on {host.name}")
    victim, port = masters[0]
    name = f"redis-{victim.name}-{port}"
    kill_recorded(load(), name)
    return {"host": victim.index, "port": port, "name": name}


def redis_master_kill_restore(info: dict) -> float:
    host, port = Host(info["host"]), info["port"]
    started = time.monotonic()
    # A replica took the slots over (cluster-node-timeout 3 s): the cluster is ok without the node.
    wait(
        "Redis Cluster ok again",
        lambda: all(topology.redis(h, REDIS_CLUSTER_PORTS[0]).ping() for h in hosts() if h != host)
        and _cluster_ok(host),
    )
    cluster = load()
    conf = host.dir / f"redis-{port}" / "redis.conf"
    restart_recorded(cluster, info["name"], ["redis-server", str(conf)], host)
    # Back empty (no persistence), as a replica of the node that took its slots; then
    # it takes them back (CLUSTER FAILOVER, a clean hand-over) so that each host again
    # has one master: two masters on one host would both go with it.
    node = redis(host, port)
    wait("the restarted node synced as a replica", lambda: node.info("replication").get("master_link_status") == "up")
    node.execute_command("CLUSTER FAILOVER")
    wait("the restarted node a master again", lambda: node.info("replication").get("role") == "master")
    wait("Redis Cluster whole", redis_whole)
    return time.monotonic() - started


def redis_whole() -> bool:
    """Every node sees all six and an ok cluster; three masters, each with a synced replica."""
    roles = []
    for host in hosts():
        for port in REDIS_CLUSTER_PORTS:
            client = redis(host, port)
            info = client.cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != 2 * HOSTS:
                return False
            replication = client.info("replication")
            roles.append(replication["role"])
            if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                return False
    return roles.count("master") == HOSTS


def _cluster_ok(skip: Host) -> bool:
    for host in hosts():
        if host != skip:
            return topology.redis(host, REDIS_CLUSTER_PORTS[0]).cluster("info").get("cluster_state") == "ok"
    return False


def layer_master_kill(host: Host) -> dict[str, Any]:
    shard = host.index - 1
    ip, port = layer_master_of(shard)
    victim = host_by_arg(ip)
    name = f"layer-{victim.name}-{port}"
    kill_recorded(load(), name)
    return {"shard": shard, "host": victim.index, "port": port, "name": name, "was": f"{ip}:{port}"}


def layer_master_kill_restore(info: dict) -> float:
    started = time.monotonic()
    wait(f"Sentinel failover of layer{info['shard']}", lambda: "%s:%s" % layer_master_of(info["shard"]) != info["was"])
    host, port = Host(info["host"]), info["port"]
    conf = host.dir / f"layer-{port}" / "redis.conf"
    argv = ["redis-server", str(conf)]
    if port != LAYER_PORT:
        new_ip, new_port = layer_master_of(info["shard"])
        argv += ["--replicaof", new_ip, str(new_port)]
    restart_recorded(load(), info["name"], argv, host)
    # Sentinel makes the old master a replica of the new one.
    wait(
        "old layer master back as a replica",
        lambda: redis(host, port).info("replication").get("role") == "slave"
        and redis(host, port).info("replication").get("master_link_status") == "up",
    )
    return time.monotonic() - started


def partition(host: Host) -> dict[str, Any]:
    sh("ip", "link", "set", host.veth, "down")
    return {"host": host.index, "veth": host.veth}


def partition_restore(info: dict) -> float:
    host = Host(info["host"])
    started = time.monotonic()
    sh("ip", "link", "set", host.veth, "master", topology.BRIDGE, "up")
    wait("Galera whole", galera_whole)
    wait("Redis Cluster whole", redis_whole)
    _give_masters_back(host)
    wait("RabbitMQ cluster of 3", lambda: rabbit_running() == HOSTS)
    wait("app nodes UP in haproxy", apps_up)
    return time.monotonic() - started


def _give_masters_back(host: Host) -> None:
    """A host whose Redis Cluster master was failed over takes its slots back (one master per host)."""
    node = redis(host, REDIS_CLUSTER_PORTS[0])
    if node.info("replication")["role"] == "master":
        return
    node.execute_command("CLUSTER FAILOVER")
    wait(f"{host.name}:{REDIS_CLUSTER_PORTS[0]} a master again", lambda: node.info("replication")["role"] == "master")
    wait("Redis Cluster whole", redis_whole)


def db_writer_stop(host: Host | None = None) -> dict[str, Any]:
    writer = host or db_writer()
    name = f"galera-{writer.name}"
    cluster = load()
    pid = cluster.state["processes"][name]["pid"]
    os.kill(pid, signal.SIGSTOP)
    return {"host": writer.index, "pid": pid}


def db_writer_stop_restore(info: dict) -> float:
    started = time.monotonic()
    os.kill(info["pid"], signal.SIGCONT)
    wait("Galera whole", galera_whole)
    wait(
        "haproxy: database servers UP",
        lambda: all(r["status"] == "UP" for r in haproxy_servers() if r["pxname"] == "mysql"),
    )
    return time.monotonic() - started


def rabbitmq_kill(host: Host) -> dict[str, Any]:
    name = f"rabbitmq-{host.name}"
    kill_recorded(load(), name)
    return {"host": host.index, "name": name}


def rabbitmq_kill_restore(info: dict) -> float:
    host = Host(info["host"])
    started = time.monotonic()
    node_dir = host.dir / "rabbitmq"
    restart_recorded(
        load(), info["name"], ["/usr/lib/rabbitmq/bin/rabbitmq-server"], host, env=rabbit_env(host), cwd=node_dir
    )
    wait("RabbitMQ cluster of 3", lambda: rabbit_running() == HOSTS)
    return time.monotonic() - started


NETEM = ("delay", "200ms", "loss", "10%")
LOSS_CHAIN = "CHAT-NETEM"
DELAY_QUEUE = 7


def netem(host: Host) -> dict[str, Any]:
    """200 ms delay and 10 % loss on what the host sends over its link (``eth0``'s egress, as netem on it).

    With ``sch_netem`` in the kernel, ``tc qdisc add dev eth0 root netem delay
    200ms loss 10%`` in the host's namespace. Without it (the test machine's
    kernel has neither netem nor tc's classifiers), netfilter does the same:
    ``-m statistic --mode random --probability 0.1 -j DROP`` loses one packet
    in ten, and the survivors go to an NFQUEUE that scripts/link_delay.py
    releases 200 ms later, in order.
    """
    tc = sh("ip", "netns", "exec", host.name, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", *NETEM, check=False)
    if tc.returncode == 0:
        return {"host": host.index, "how": "tc netem " + " ".join(NETEM)}
    cluster = load()
    name = f"link-delay-{host.name}"
    log = topology.LOG_DIR / f"{name}.log"
    seen = log.stat().st_size if log.exists() else 0
    delayer = [str(PYTHON), str(ROOT / "scripts" / "link_delay.py"), f"--queue={DELAY_QUEUE}", "--delay=0.2"]
    cluster.start(name, delayer, host)
    wait(f"{name} bound", lambda: b"holding" in log.read_bytes()[seen:], timeout=30, interval=0.1)
    iptables = ["ip", "netns", "exec", host.name, "iptables", "-w"]
    sh(*iptables, "-N", LOSS_CHAIN)
    sh(*iptables, "-A", LOSS_CHAIN, "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP")
    sh(*iptables, "-A", LOSS_CHAIN, "-j", "NFQUEUE", "--queue-num", str(DELAY_QUEUE), "--queue-bypass")
    sh(*iptables, "-I", "OUTPUT", "-o", "eth0", "-j", LOSS_CHAIN)
    return {
        "host": host.index,
        "how": "iptables statistic 10 % DROP + NFQUEUE held 200 ms (scripts/link_delay.py)",
        "netem_missing": tc.stderr.strip(),
        "delayer": name,
    }


def netem_restore(info: dict) -> float:
    started = time.monotonic()
    host = Host(info["host"])
    if info.get("delayer"):
        iptables = ["ip", "netns", "exec", host.name, "iptables", "-w"]
        sh(*iptables, "-D", "OUTPUT", "-o", "eth0", "-j", LOSS_CHAIN, check=False)
        sh(*iptables, "-F", LOSS_CHAIN, check=False)
        sh(*iptables, "-X", LOSS_CHAIN, check=False)
        load().stop([info["delayer"]], timeout=10)  # held packets go out before it exits
    else:
        sh("ip", "netns", "exec", host.name, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
    wait("app nodes UP in haproxy", apps_up)
    return time.monotonic() - started


def galera_rolling_restart(host: Host | None = None) -> dict[str, Any]:
    """Every database node in turn: SIGTERM, wait for its exit, start, wait until the cluster is whole."""
    cluster = load()
    took = {}
    for node in hosts():
        started = time.monotonic()
        name = f"galera-{node.name}"
        entry = cluster.state["processes"][name]
        cluster.signal(name, signal.SIGTERM)
        pid, start = entry["pid"], entry["start"]
        wait(f"{name} stopped", lambda: start_time(pid) != start, timeout=120, interval=0.2)  # noqa: B023
        cluster = load()
        cluster.start(name, galera_argv(node), node)
        wait("Galera whole", galera_whole)
        took[node.name] = round(time.monotonic() - started, 1)
    return {"restarted": took}


def galera_rolling_restart_restore(info: dict) -> float:
    return wait("Galera whole", galera_whole)


@dataclass(frozen=True)
class Fault:
    inject: Callable[..., dict[str, Any]]
    restore: Callable[[dict], float]
    default_host: int | None
    summary: str


FAULTS: dict[str, Fault] = {
    "daphne-kill": Fault(daphne_kill, daphne_kill_restore, 1, "kill -9 every daphne of a host"),
    "drain": Fault(drain, drain_restore, 2, "haproxy drain, then manage.py drain_sockets on the host"),
    "redis-master-kill": Fault(redis_master_kill, redis_master_kill_restore, 1, "kill -9 a Redis Cluster master"),
    "layer-master-kill": Fault(layer_master_kill, layer_master_kill_restore, 2, "kill -9 a channel-layer master"),
    "partition": Fault(partition, partition_restore, 3, "ip link set <veth> down: a host cut off"),
    "db-writer-stop": Fault(db_writer_stop, db_writer_stop_restore, None, "SIGSTOP the Galera writer"),
    "rabbitmq-kill": Fault(rabbitmq_kill, rabbitmq_kill_restore, 3, "kill -9 a RabbitMQ node"),
    "netem": Fault(netem, netem_restore, 2, "200 ms delay and 10 % loss on a host's link"),
    "galera-rolling-restart": Fault(
        galera_rolling_restart, galera_rolling_restart_restore, None, "restart the three database nodes in turn"
    ),
}


def inject(name: str, host: int | None = None) -> dict[str, Any]:
    fault = FAULTS[name]
    index = host if host is not None else fault.default_host
    info = fault.inject(Host(index)) if index is not None else fault.inject()
    info = {"fault": name, "at": time.time(), **info}
    recorded = _recorded()
    recorded[name] = info
    FAULTS_FILE.write_text(json.dumps(recorded, indent=1))
    return info


def restore(name: str) -> dict[str, Any]:
    recorded = _recorded()
    info = recorded.get(name)
    if info is None:
        raise SystemExit(f"No {name} fault recorded in {FAULTS_FILE}: nothing to restore.")
    seconds = FAULTS[name].restore(info)
    del recorded[name]
    FAULTS_FILE.write_text(json.dumps(recorded, indent=1))
    return {"fault": name, "restored_in": round(seconds, 1)}


def _recorded() -> dict[str, Any]:
    try:
        return json.loads(FAULTS_FILE.read_text())
    except FileNotFoundError:
        return {}


def command(name: str, host: str | None, undo: bool, duration: float | None) -> int:
    """`scripts/cluster.py fault`: inject, restore, or both around ``duration`` seconds."""
    load()
    index = host_by_arg(host).index if host else None
    if undo:
        print(json.dumps(restore(name)))
        return 0
    print(json.dumps(inject(name, index)), flush=True)
    if duration is not None:
        time.sleep(duration)
        print(json.dumps(restore(name)))
    return 0
