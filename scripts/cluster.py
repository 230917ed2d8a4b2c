"""`make cluster`: the chat server on three hosts, simulated on this machine.

    scripts/cluster.py up       start everything, in the foreground; Ctrl-C or
                                SIGTERM (or the parent going away) stops it all
    scripts/cluster.py status   every process and engine, and each engine's members
    scripts/cluster.py down     clean up after a crash (what up recorded)
    scripts/cluster.py fault NAME [--host N] [--restore | --for S]
                                inject a fault by hand (scripts/cluster_faults.py)
    scripts/cluster.py exec HOST -- CMD ...
                                run CMD on HOST (1-3 or its name) with its app
                                environment, e.g. `-- .venv/bin/python manage.py rebuild_redis`

Each host is a network namespace on a bridge (docs/deployment.md): a Galera
node, two Redis Cluster nodes, a channel-layer Redis master and a replica of
another host's, a Sentinel, a RabbitMQ node and the app (scripts/run.py).
haproxy runs on this machine in front of them. The engines' configuration is
deploy/*, rendered with the values of each host; this script only renders
and starts them. Every process it starts is recorded (pid and start time in a
state file) and found again from there, never by its name. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from run import ParentWatch, die_with_parent, stat_fields

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PYTHON = ROOT / ".venv" / "bin" / "python"
DIR = Path(os.environ.get("CHAT_CLUSTER_DIR", "/var/lib/chat-cluster"))
STATE_FILE = DIR / "state.json"
LOG_DIR = DIR / "logs"
# Names of everything created in the root namespace; the hosts are PREFIX1..3.
PREFIX = os.environ.get("CHAT_CLUSTER_PREFIX", "chatc")
BRIDGE = f"{PREFIX}-br0"
SUBNET = ipaddress.ip_network(os.environ.get("CHAT_CLUSTER_SUBNET", "10.231.7.0/25"))
HOSTS = 3
DB_PORT = 3306
REDIS_CLUSTER_PORTS = (7000, 7001)
LAYER_PORT, LAYER_REPLICA_PORT, SENTINEL_PORT = 6379, 6380, 26379
APP_PORT = 8000
ENGINE_TIMEOUT = 120
APP_TIMEOUT = 120
APP_STOP_TIMEOUT = 40
ENGINE_STOP_TIMEOUT = 25
# Names the host (the UTS namespace's), then becomes the command: sh -c SCRIPT NAME ARGV...
SET_HOSTNAME = ["/bin/sh", "-c", 'hostname "$0" && exec "$@"']


class Stopped(Exception):
    """Start-up was interrupted (signal, parent gone) or failed elsewhere."""


@dataclass(frozen=True)
class Host:
    index: int  # 1-based

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.index}"

    @property
    def ip(self) -> str:
        return str(SUBNET.network_address + 10 + self.index)

    @property
    def veth(self) -> str:
        return f"{PREFIX}-v{self.index}"

    @property
    def dir(self) -> Path:
        return DIR / "hosts" / self.name

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run on this host: its network namespace, and its own host name (UTS namespace).

        ``ip netns exec`` and ``unshare`` exec in place, and so does the shell: the
        process started is the daemon itself, with the pid Popen returns.
        """
        return ["ip", "netns", "exec", self.name, "unshare", "--uts", "--", *SET_HOSTNAME, self.name, *argv]


def hosts() -> list[Host]:
    return [Host(i) for i in range(1, HOSTS + 1)]


def bridge_ip() -> str:
    return str(SUBNET.network_address + 1)


def host_by_arg(arg: str) -> Host:
    for host in hosts():
        if arg in (str(host.index), host.name, host.ip):
            return host
    raise SystemExit(f"No host {arg!r}: use 1-{HOSTS} or {PREFIX}1-{PREFIX}{HOSTS}.")


# --- templates -----------------------------------------------------------------


def render(template: str, values: dict[str, Any], target: Path | None = None, mode: int = 0o644) -> str:
    text = string.Template((DEPLOY / template).read_text()).substitute({k: str(v) for k, v in values.items()})
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
    return text


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def topology_values() -> dict[str, str]:
    values = {"subnet": str(SUBNET), "bridge_ip": bridge_ip()}
    for host in hosts():
        values[f"host{host.index}"] = host.name
        values[f"ip{host.index}"] = host.ip
    return values


def app_env(host: Host, state: dict) -> dict[str, str]:
    """The app node's environment on ``host``: this process's, then app.env (and the overlay)."""
    values = {
        **topology_values(),
        "host": host.name,
        "ip": host.ip,
        "db_host": bridge_ip(),
        "db_port": DB_PORT,
        "db_password": state["secrets"]["db"],
        "broker_password": state["secrets"]["broker"],
        "media_root": DIR / "media",
        "run_dir": host.dir / "app",
    }
    text = render("app.env", values, host.dir / "app.env", 0o600)
    env = parse_env(text)
    if state.get("app") == "single-redis":
        env.update(parse_env(render("app-single-redis.env", values)))
    return {**os.environ, **env, "PYTHONUNBUFFERED": "1"}


# --- processes and the state file ------------------------------------------------


def start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


class Cluster:
    """What up created, as recorded in the state file (written after every change)."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.popens: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.t0 = time.monotonic()

    @classmethod
    def load(cls) -> Cluster | None:
        try:
            return cls(json.loads(STATE_FILE.read_text()))
        except FileNotFoundError:
            return None

    def save(self) -> None:
        with self.lock:
            DIR.mkdir(parents=True, exist_ok=True)
            tmp = STATE_FILE.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, indent=1))
            tmp.chmod(0o600)
            tmp.replace(STATE_FILE)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f}s] {text}", flush=True)

    def check(self) -> None:
        if self.stopping.is_set():
            raise Stopped

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = ENGINE_TIMEOUT, names: tuple = ()) -> None:
        """Poll ``ready`` until it is true; fail on timeout, a stop, or one of ``names`` exiting."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            with contextlib.suppress(Exception):
                if ready():
                    return
            for name in names:
                popen = self.popens.get(name)
                if popen is not None and popen.poll() is not None:
                    raise RuntimeError(f"{name} exited with {popen.returncode}: see {LOG_DIR / (name + '.log')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not ready after {timeout} s (logs in {LOG_DIR})")
            time.sleep(0.25)

    def start(self, name: str, argv: list[str], host: Host | None = None, **kwargs: Any) -> None:
        """Start a process in a session of its own, recorded under ``name``; output to logs/NAME.log."""
        self.check()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / f"{name}.log", "ab") as log:
            popen = subprocess.Popen(
                host.wrap(argv) if host else argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        self.popens[name] = popen
        with self.lock:
            self.state["processes"][name] = {
                "pid": popen.pid,
                "start": start_time(popen.pid),
                "host": host.name if host else None,
            }
        self.save()

    def run(self, argv: list[str], host: Host | None = None, **kwargs: Any) -> str:
        """Run a command to its end (output returned; an error raises with the output)."""
        result = subprocess.run(
            host.wrap(argv) if host else argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=kwargs.pop("timeout", 300),
            **kwargs,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result.stdout

    def alive(self, name: str) -> bool:
        entry = self.state["processes"].get(name)
        return bool(entry) and start_time(entry["pid"]) == entry["start"]

    def stop(self, names: list[str], timeout: float) -> None:
        """SIGTERM to each recorded process's group, SIGKILL to those still there after ``timeout``."""
        names = stopping = [name for name in names if self.alive(name)]
        for name in names:
            self.signal(name, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while names and time.monotonic() < deadline:
            for name in names:
                popen = self.popens.get(name)
                if popen is not None:
                    popen.poll()
            names = [name for name in names if self.alive(name)]
            time.sleep(0.2)
        for name in names:
            print(f"{name} did not stop within {timeout} s: killing it", flush=True)
            self.signal(name, signal.SIGKILL)
        for name in stopping:
            popen = self.popens.get(name)
            if popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(5)

    def signal(self, name: str, sig: int) -> None:
        pid = self.state["processes"][name]["pid"]
        try:
            os.killpg(pid, sig)
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


# --- the network -------------------------------------------------------------------


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
    return result


def create_network(cluster: Cluster) -> None:
    cluster.state["network"] = {"bridge": BRIDGE, "namespaces": [h.name for h in hosts()]}
    cluster.save()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{bridge_ip()}/{SUBNET.prefixlen}", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    names = "".join(f"{h.ip} {h.name}\n" for h in hosts())
    for host in hosts():
        sh("ip", "netns", "add", host.name)
        sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        sh("ip", "link", "set", host.veth, "master", BRIDGE, "up")
        sh("ip", "-n", host.name, "addr", "add", f"{host.ip}/{SUBNET.prefixlen}", "dev", "eth0")
        sh("ip", "-n", host.name, "link", "set", "eth0", "up")
        sh("ip", "-n", host.name, "link", "set", "lo", "up")
        # A stopping daphne's accept queue goes to another (scripts/web_process.py); per namespace, best effort.
        sh("ip", "netns", "exec", host.name, "sysctl", "-qw", "net.ipv4.tcp_migrate_req=1", check=False)
        # `ip netns exec` bind-mounts these over /etc: the hosts know each other by name.
        etc = Path("/etc/netns") / host.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{names}")


def leftover_network() -> list[str]:
    """Our namespaces and bridge, if they exist."""
    listed = sh("ip", "netns", "list", check=False).stdout.split("\n")
    names = {line.split()[0] for line in listed if line.strip()}
    found = [h.name for h in hosts() if h.name in names]
    if sh("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        found.append(BRIDGE)
    return found


def remove_network(state: dict) -> None:
    network = state.get("network") or {}
    for name in network.get("namespaces", []):
        # Anything left in a namespace we made (children of the recorded processes) ends with it.
        pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
    for host in hosts():
        sh("ip", "link", "del", host.veth, check=False)
    if network.get("bridge"):
        sh("ip", "link", "del", network["bridge"], check=False)


# --- the engines ------------------------------------------------------------------


def galera_socket(host: Host) -> str:
    return str(host.dir / "mysql-run" / "mysqld.sock")


def galera_query(host: Host, sql: str) -> list[tuple]:
    import MySQLdb

    connection = MySQLdb.connect(unix_socket=galera_socket(host), user="root", connect_timeout=2)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        connection.close()


def galera_status(host: Host) -> dict[str, str]:
    names = "'wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready'"
    return dict(galera_query(host, f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})"))


def galera_synced(host: Host) -> bool:
    return galera_status(host)["wsrep_local_state_comment"] == "Synced"


def start_galera(cluster: Cluster) -> None:
    """The first node bootstraps a new cluster; the app's database and users."""
    address = "gcomm://" + ",".join(h.ip for h in hosts())
    for host in hosts():
        data, run_dir = host.dir / "mysql", host.dir / "mysql-run"
        for path in (data, run_dir):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "mysql", "mysql")
        values = {"host": host.name, "ip": host.ip, "cluster_address": address, "data_dir": data, "run_dir": run_dir}
        render("galera.cnf", values, host.dir / "galera.cnf")
    first = hosts()[0]
    cluster.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            "--user=mysql",
            f"--datadir={first.dir / 'mysql'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ]
    )
    cluster.start(
        f"galera-{first.name}",
        ["/usr/sbin/mariadbd", f"--defaults-file={first.dir / 'galera.cnf'}", "--wsrep-new-cluster"],
        first,
    )
    cluster.wait(
        f"Galera on {first.name}",
        partial(galera_synced, first),
        names=(f"galera-{first.name}",),
    )
    cluster.say(f"Galera: {first.name} bootstrapped a new cluster")
    # The database and its users (deploy/galera-init.sql), one statement at a time.
    values = {"network": f"{SUBNET.network_address}/{SUBNET.netmask}", "password": cluster.state["secrets"]["db"]}
    script = "\n".join(line for line in render("galera-init.sql", values).splitlines() if not line.startswith("--"))
    for statement in filter(None, (part.strip() for part in script.split(";"))):
        galera_query(first, statement)


def join_galera(cluster: Cluster) -> None:
    """The other nodes join with an empty data directory and receive a copy (rsync SST)."""
    first, *others = hosts()
    for host in others:
        cluster.start(f"galera-{host.name}", ["/usr/sbin/mariadbd", f"--defaults-file={host.dir / 'galera.cnf'}"], host)
    for host in others:
        cluster.wait(
            f"Galera on {host.name}",
            partial(galera_synced, host),
            names=(f"galera-{host.name}",),
        )
    cluster.wait("Galera cluster of 3", lambda: galera_status(first)["wsrep_cluster_size"] == str(HOSTS))
    cluster.say(f"Galera: {HOSTS} nodes synced")


def redis(host: Host, port: int):
    import redis as redis_py

    return redis_py.Redis(host=host.ip, port=port, socket_timeout=5, decode_responses=True)


def start_redis(cluster: Cluster) -> None:
    all_hosts = hosts()
    for host in all_hosts:
        for port in REDIS_CLUSTER_PORTS:
            conf = host.dir / f"redis-{port}" / "redis.conf"
            render("redis-cluster.conf", {"ip": host.ip, "port": port, "data_dir": conf.parent}, conf)
            cluster.start(f"redis-{host.name}-{port}", ["redis-server", str(conf)], host)
        # Channel layer: this host's shard master, and a replica of the next host's shard.
        master_of_next = all_hosts[host.index % HOSTS]
        for port, extra in (
            (LAYER_PORT, []),
            (LAYER_REPLICA_PORT, ["--replicaof", master_of_next.ip, str(LAYER_PORT)]),
        ):
            conf = host.dir / f"layer-{port}" / "redis.conf"
            render("redis-layer.conf", {"ip": host.ip, "port": port, "data_dir": conf.parent}, conf)
            cluster.start(f"layer-{host.name}-{port}", ["redis-server", str(conf), *extra], host)
        conf = host.dir / "sentinel" / "sentinel.conf"
        values = {"ip": host.ip, "data_dir": conf.parent}
        for shard, shard_host in enumerate(all_hosts):
            values |= {f"layer{shard}_ip": shard_host.ip, f"layer{shard}_port": LAYER_PORT}
        render("sentinel.conf", values, conf)
        cluster.start(f"sentinel-{host.name}", ["redis-server", str(conf), "--sentinel"], host)
    for host in all_hosts:
        for port in (*REDIS_CLUSTER_PORTS, LAYER_PORT, LAYER_REPLICA_PORT, SENTINEL_PORT):
            cluster.wait(f"Redis {host.name}:{port}", redis(host, port).ping)
    # Redis Cluster: the three :7000 nodes are masters with a third of the slots
    # each; every :7001 replicates the next host's master.
    masters = [f"{h.ip}:{REDIS_CLUSTER_PORTS[0]}" for h in all_hosts]
    cluster.run(["redis-cli", "--cluster", "create", *masters, "--cluster-replicas", "0", "--cluster-yes"])
    for host in all_hosts:
        master = all_hosts[host.index % HOSTS]
        master_id = redis(master, REDIS_CLUSTER_PORTS[0]).execute_command("CLUSTER MYID")
        replica = redis(host, REDIS_CLUSTER_PORTS[1])
        replica.execute_command("CLUSTER MEET", master.ip, REDIS_CLUSTER_PORTS[0])
        cluster.wait(
            f"Redis Cluster replica {host.name}",
            partial(replica.execute_command, "CLUSTER REPLICATE", master_id),
        )
    cluster.wait("Redis Cluster", redis_cluster_ready)
    cluster.say("Redis: cluster of 3 masters + 3 replicas, 3 channel-layer shards with replicas, 3 sentinels")


def redis_cluster_nodes() -> str:
    """`redis-cli cluster nodes`, as seen from the first node that answers."""
    for host in hosts():
        for port in REDIS_CLUSTER_PORTS:
            argv = ["redis-cli", "-h", host.ip, "-p", str(port), "cluster", "nodes"]
            answer = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
            if answer.returncode == 0 and answer.stdout.strip() and "ERR" not in answer.stdout:
                return answer.stdout
    raise RuntimeError("no Redis Cluster node answers")


def rabbitmq_cluster_status(cluster: Cluster, *command: str) -> Any:
    """`rabbitmqctl cluster_status` (or ``command``) as JSON, from the first node that answers."""
    problems = []
    for host in hosts():
        try:
            return json.loads(rabbitmqctl(cluster, host, *(command or ("cluster_status",)), "--formatter", "json"))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            problems.append(f"{host.name}: {exc}")
    raise RuntimeError("; ".join(problems))


def sentinel_masters(host: Host) -> list[dict[str, Any]]:
    keys = ("name", "ip", "port", "flags", "num-slaves", "num-other-sentinels")
    masters = redis(host, SENTINEL_PORT).sentinel_masters()
    return [{k: master[k] for k in keys} for master in masters.values()]


def redis_cluster_ready() -> bool:
    for host in hosts():
        for port in REDIS_CLUSTER_PORTS:
            client = redis(host, port)
            info = client.cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != 2 * HOSTS:
                return False
            if port == REDIS_CLUSTER_PORTS[1] and client.info("replication").get("master_link_status") != "up":
                return False
    return True


def rabbitmqctl(cluster: Cluster, host: Host, *args: str) -> str:
    argv = ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", f"rabbit@{host.name}", *args]
    return cluster.run(argv, host, env=rabbit_env(host), timeout=60)


def rabbit_env(host: Host) -> dict[str, str]:
    """RabbitMQ's environment: its env file, and HOME holding the cluster's Erlang cookie."""
    node_dir = host.dir / "rabbitmq"
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(node_dir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "RABBITMQ_CONF_ENV_FILE": str(node_dir / "rabbitmq-env.conf"),
    }


def port_open(ip: str, port: int) -> bool:
    with socket.create_connection((ip, port), timeout=1):
        return True


def start_rabbitmq(cluster: Cluster) -> None:
    cookie = cluster.state["secrets"]["cookie"]
    values = {**topology_values(), "password": cluster.state["secrets"]["broker"]}
    envs = {}
    for host in hosts():
        node_dir = host.dir / "rabbitmq"
        render("rabbitmq.conf", {**values, "ip": host.ip}, node_dir / "rabbitmq.conf")
        render("rabbitmq-env.conf", {"host": host.name, "node_dir": node_dir}, node_dir / "rabbitmq-env.conf")
        (node_dir / "enabled_plugins").write_text("[].\n")
        cookie_file = node_dir / ".erlang.cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o400)
        envs[host] = rabbit_env(host)
        # The Erlang port mapper, started here (not by the first erl) so that it is recorded.
        cluster.start(f"epmd-{host.name}", ["epmd"], host, env=envs[host], cwd=node_dir)
    first, *others = hosts()
    # The first node forms the cluster; the others find it (classic_config) and join.
    cluster.start(
        f"rabbitmq-{first.name}",
        ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
        first,
        env=envs[first],
        cwd=first.dir / "rabbitmq",
    )
    cluster.wait(f"RabbitMQ on {first.name}", partial(port_open, first.ip, 5672), names=(f"rabbitmq-{first.name}",))
    cluster.say(f"RabbitMQ: {first.name} up")
    for host in others:
        cluster.start(
            f"rabbitmq-{host.name}",
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            host,
            env=envs[host],
            cwd=host.dir / "rabbitmq",
        )
    for host in others:
        cluster.wait(f"RabbitMQ on {host.name}", partial(port_open, host.ip, 5672), names=(f"rabbitmq-{host.name}",))
    # Each joined the first node's cluster (not one of its own).
    running = rabbitmq_cluster_status(cluster).get("running_nodes", [])
    if len(running) != HOSTS:
        raise RuntimeError(f"RabbitMQ: running nodes {running}, expected {HOSTS}")
    cluster.say(f"RabbitMQ: cluster of {HOSTS} nodes")


def haproxy_command(command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(DIR / "haproxy" / "haproxy.sock"))
        client.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def haproxy_servers() -> list[dict[str, str]]:
    """`show stat` of every server line: pxname, svname, status, check_status, scur, ..."""
    lines = haproxy_command("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return [row for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")]


def start_haproxy(cluster: Cluster, bind: str, port: int) -> None:
    run_dir = DIR / "haproxy"
    values = {
        **topology_values(),
        "bind": bind,
        "port": port,
        "db_bind": bridge_ip(),
        "db_port": DB_PORT,
        "run_dir": run_dir,
    }
    render("haproxy.cfg", values, run_dir / "haproxy.cfg")
    cluster.run(["haproxy", "-c", "-q", "-f", str(run_dir / "haproxy.cfg")])
    cluster.start("haproxy", ["haproxy", "-db", "-f", str(run_dir / "haproxy.cfg")])
    cluster.wait("haproxy", lambda: bool(haproxy_servers()), names=("haproxy",))


def app_servers_up() -> bool:
    states = [row["status"] for row in haproxy_servers() if row["pxname"] == "app"]
    return len(states) == HOSTS and all(state == "UP" for state in states)


def seed_demo(cluster: Cluster) -> None:
    """The demo users, as `make run` makes them (scripts/bootstrap.sh), unless in production."""
    first = hosts()[0]
    env = app_env(first, cluster.state)
    if env.get("CHAT_ENV", "dev") != "production":
        cluster.run([str(PYTHON), "manage.py", "seed_demo"], first, env=env, cwd=ROOT)
        cluster.say("Demo users: alice, bob, carol, admin (password chat-demo-pass)")


def migrate(cluster: Cluster) -> None:
    """Migrations, once, from the first host straight to its Galera node (before the others join:
    their copy then has the tables, and no DDL runs during a state transfer)."""
    first = hosts()[0]
    env = {**app_env(first, cluster.state), "CHAT_DB_HOST": first.ip, "CHAT_DB_PORT": str(DB_PORT)}
    cluster.run([str(PYTHON), "manage.py", "migrate", "--noinput"], first, env=env, cwd=ROOT)
    cluster.say("Database migrated")


def start_apps(cluster: Cluster) -> None:
    for host in hosts():
        (host.dir / "app").mkdir(parents=True, exist_ok=True)
        cluster.start(
            f"app-{host.name}",
            [str(PYTHON), "scripts/run.py", "--bind", host.ip, "--port", str(APP_PORT)],
            host,
            env=app_env(host, cluster.state),
            cwd=ROOT,
        )


# --- up / down / status ---------------------------------------------------------------


def in_thread(cluster: Cluster, errors: list[BaseException], target: Callable[[Cluster], None]) -> threading.Thread:
    def body() -> None:
        try:
            target(cluster)
        except BaseException as exc:
            errors.append(exc)
            cluster.stopping.set()

    thread = threading.Thread(target=body, name=target.__name__, daemon=True)
    thread.start()
    return thread


def join(cluster: Cluster, threads: list[threading.Thread], errors: list[BaseException]) -> None:
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    real = [e for e in errors if not isinstance(e, Stopped)]
    if real:
        raise real[0]
    cluster.check()


def up(args: argparse.Namespace) -> int:
    die_with_parent()
    parent = ParentWatch()
    old = Cluster.load()
    if old is not None:
        running = [name for name in old.state["processes"] if old.alive(name)]
        if running:
            print(
                f"A cluster is running (pid {old.state.get('pid')}, {len(running)} processes): "
                "stop it, or clean up after a crash with scripts/cluster.py down."
            )
            return 1
        teardown(old, quiet=True)
    leftovers = leftover_network()
    if leftovers:
        print(
            f"{', '.join(leftovers)} exist but no running cluster is recorded: remove them with "
            "scripts/cluster.py down (or choose CHAT_CLUSTER_PREFIX)."
        )
        return 1
    needed = ("/usr/sbin/haproxy", "/usr/lib/galera/libgalera_smm.so", "/usr/lib/rabbitmq/bin/rabbitmq-server",
              "/usr/bin/redis-server", "/usr/bin/rsync", str(PYTHON))  # fmt: skip
    if not all(Path(path).exists() for path in needed):
        # What make cluster installs first; here for a direct `scripts/cluster.py up`.
        print("Installing what the cluster needs: scripts/bootstrap.sh cluster", flush=True)
        if subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "cluster"], check=False).returncode:
            return 1
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    state = {
        "pid": os.getpid(),
        "pid_start": start_time(os.getpid()),
        "bind": args.bind,
        "port": args.port,
        "app": args.app,
        "subnet": str(SUBNET),
        "hosts": {h.name: h.ip for h in hosts()},
        "dir": str(DIR),
        "secrets": {"db": secrets.token_hex(12), "broker": secrets.token_hex(12), "cookie": secrets.token_hex(16)},
        "processes": {},
    }
    cluster = Cluster(state)
    cluster.save()

    def stop(signum: int, frame: object) -> None:
        cluster.stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    (DIR / "media").mkdir(parents=True, exist_ok=True)
    watcher = threading.Thread(target=lambda: watch_parent(cluster, parent), daemon=True)
    watcher.start()
    code = 0
    try:
        create_network(cluster)
        cluster.say(f"Network: bridge {BRIDGE} {bridge_ip()}, hosts " + ", ".join(f"{h.name} {h.ip}" for h in hosts()))
        start_haproxy(cluster, args.bind, args.port)
        errors: list[BaseException] = []
        redis_thread = in_thread(cluster, errors, start_redis)
        rabbit_thread = in_thread(cluster, errors, start_rabbitmq)
        start_galera(cluster)
        migrate(cluster)
        galera_thread = in_thread(cluster, errors, join_galera)
        # The apps' workers declare Celery's quorum queues when they start, with the RabbitMQ
        # nodes running then as members: a queue declared before the third node joined kept
        # two members (a node failure then took its quorum). So the broker is whole first.
        join(cluster, [redis_thread, rabbit_thread], errors)
        start_apps(cluster)
        join(cluster, [galera_thread, in_thread(cluster, errors, seed_demo)], errors)
        cluster.wait(
            "app nodes behind haproxy", app_servers_up, APP_TIMEOUT, names=tuple(f"app-{h.name}" for h in hosts())
        )
        elapsed = time.monotonic() - cluster.t0
        print(
            f"Serving http://{args.bind}:{args.port}/ through haproxy on {HOSTS} hosts; "
            f"started in {elapsed:.1f} s. Ctrl-C stops everything.\n"
            f"  scripts/cluster.py status    engines and members; logs in {LOG_DIR}\n"
            f"  drain: echo 'set server app/{PREFIX}1 state drain' | socat stdio {DIR}/haproxy/haproxy.sock",
            flush=True,
        )
        cluster.state["ready"] = elapsed
        cluster.save()
        reported: set[str] = set()
        while not cluster.stopping.is_set():
            for name in cluster.state["processes"]:
                if name not in reported and not cluster.alive(name):
                    reported.add(name)
                    popen = cluster.popens.get(name)
                    code_text = popen.poll() if popen else "?"
                    print(f"{name} exited ({code_text}); see {LOG_DIR / (name + '.log')}", flush=True)
            cluster.stopping.wait(0.5)
    except Stopped:
        pass
    except Exception as exc:
        print(f"Start-up failed: {exc}", flush=True)
        code = 1
    finally:
        cluster.stopping.set()
        print("Stopping the cluster...", flush=True)
        teardown(cluster)
    return code


def watch_parent(cluster: Cluster, parent: ParentWatch) -> None:
    while not cluster.stopping.is_set():
        if parent.parent_stopping():
            cluster.stopping.set()
        time.sleep(0.2)


def teardown(cluster: Cluster, quiet: bool = False) -> None:
    """Stop every recorded process (the app first), remove the network and the data."""
    processes = list(cluster.state.get("processes", {}))
    apps = [name for name in processes if name.startswith("app-")]
    cluster.stop(apps, APP_STOP_TIMEOUT)
    cluster.stop([name for name in processes if name not in apps], ENGINE_STOP_TIMEOUT)
    remove_network(cluster.state)
    for path in (DIR / "hosts", DIR / "haproxy", DIR / "media"):
        shutil.rmtree(path, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
    if not quiet:
        print(f"Stopped; namespaces, bridge and data removed (logs kept in {LOG_DIR}).", flush=True)


def down(args: argparse.Namespace) -> int:
    cluster = Cluster.load()
    if cluster is None:
        print(f"No cluster recorded in {STATE_FILE}.")
        # A state file lost mid-way: the names are fixed, remove what exists.
        remove_network({"network": {"bridge": BRIDGE, "namespaces": [h.name for h in hosts()]}})
        return 0
    owner = cluster.state.get("pid")
    if owner and start_time(owner) == cluster.state.get("pid_start") and not args.force:
        print(
            f"scripts/cluster.py up (pid {owner}) is still running: stop it (Ctrl-C or kill {owner}), "
            "or use down --force."
        )
        return 1
    teardown(cluster)
    return 0


def collect_status(cluster: Cluster) -> dict[str, Any]:
    """Every recorded process, and each engine's view of its members (errors as text)."""

    def attempt(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            return f"error: {exc}"

    status: dict[str, Any] = {
        "processes": {
            name: {**entry, "alive": cluster.alive(name)} for name, entry in cluster.state["processes"].items()
        },
        "galera": {h.name: attempt(partial(galera_status, h)) for h in hosts()},
        "redis_cluster_nodes": attempt(redis_cluster_nodes),
        "sentinel_masters": {h.name: attempt(partial(sentinel_masters, h)) for h in hosts()},
        "rabbitmq": attempt(partial(rabbitmq_cluster_status, cluster)),
        # The app's queues: quorum queues have a leader and members on every node.
        "rabbitmq_queues": attempt(
            partial(rabbitmq_cluster_status, cluster, "list_queues", "-p", "chat", "name", "type", "leader", "members")
        ),
        "haproxy": attempt(
            lambda: [
                {k: row.get(k) for k in ("pxname", "svname", "status", "check_status", "scur", "weight")}
                for row in haproxy_servers()
            ]
        ),
    }
    return status


def status(args: argparse.Namespace) -> int:
    cluster = Cluster.load()
    if cluster is None:
        print(f"No cluster running (no {STATE_FILE}).")
        return 1
    result = collect_status(cluster)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return 0
    state = cluster.state
    print(
        f"Cluster of scripts/cluster.py up (pid {state['pid']}), http://{state['bind']}:{state['port']}/, "
        f"app config {state['app']}, data in {state['dir']}"
    )
    print("\nProcesses:")
    for name, entry in result["processes"].items():
        print(f"  {name:28} pid {entry['pid']:>7}  {'running' if entry['alive'] else 'GONE'}")
    print("\nGalera (wsrep):")
    for name, value in result["galera"].items():
        print(f"  {name}: {value}")
    print("\nRedis Cluster nodes:")
    nodes = result["redis_cluster_nodes"]
    print("  " + nodes.strip().replace("\n", "\n  ") if isinstance(nodes, str) else nodes)
    print("\nSentinel masters:")
    for name, value in result["sentinel_masters"].items():
        print(f"  {name}: {value}")
    print("\nRabbitMQ cluster_status:")
    rabbit = result["rabbitmq"]
    if isinstance(rabbit, dict):
        print(f"  disk nodes: {rabbit.get('disk_nodes')}\n  running: {rabbit.get('running_nodes')}")
    else:
        print(f"  {rabbit}")
    queues = result["rabbitmq_queues"]
    for queue in queues if isinstance(queues, list) else [queues]:
        print(f"  queue {queue}")
    print("\nhaproxy servers:")
    for row in result["haproxy"] if isinstance(result["haproxy"], list) else [result["haproxy"]]:
        print(f"  {row}")
    return 0


def exec_on(args: argparse.Namespace) -> int:
    cluster = Cluster.load()
    if cluster is None:
        print(f"No cluster running (no {STATE_FILE}).")
        return 1
    host = host_by_arg(args.host)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("exec: nothing to run")
    return subprocess.run(host.wrap(command), env=app_env(host, cluster.state), cwd=ROOT, check=False).returncode


def fault(args: argparse.Namespace) -> int:
    import cluster_faults

    return cluster_faults.command(args.fault, args.host, args.restore, args.duration)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    up_parser = commands.add_parser("up", help="start the cluster in the foreground")
    up_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    up_parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1"))
    up_parser.add_argument(
        "--app",
        choices=("contract", "single-redis"),
        default=os.environ.get("CHAT_CLUSTER_APP", "contract"),
        help="the app's configuration: the cluster contract (deploy/app.env), or one plain Redis "
        "for an app without cluster support yet (deploy/app-single-redis.env)",
    )
    status_parser = commands.add_parser("status", help="processes, engines and their members")
    status_parser.add_argument("--json", action="store_true")
    down_parser = commands.add_parser("down", help="stop what a crashed `up` left behind")
    down_parser.add_argument("--force", action="store_true", help="even while its `up` still runs")
    exec_parser = commands.add_parser("exec", help="run a command on a host with its app environment")
    exec_parser.add_argument("host")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    fault_parser = commands.add_parser("fault", help="inject a fault by hand (scripts/cluster_faults.py)")
    fault_parser.add_argument(
        "fault",
        help="daphne-kill, drain, redis-master-kill, layer-master-kill, partition, "
        "db-writer-stop, rabbitmq-kill, netem, galera-rolling-restart",
    )
    fault_parser.add_argument("--host", help="the host (1-3 or its name; each fault has a default)")
    fault_parser.add_argument("--restore", action="store_true", help="undo the fault and wait until healed")
    fault_parser.add_argument("--for", dest="duration", type=float, help="inject, wait this long, restore")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print(
            "scripts/cluster.py needs root: it creates network namespaces, a bridge and veth pairs, and "
            "starts MariaDB, Redis, RabbitMQ and haproxy inside them. Run it as root (e.g. sudo make cluster).",
            file=sys.stderr,
        )
        return 1
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": up,
        "down": down,
        "status": status,
        "exec": exec_on,
        "fault": fault,
    }
    return commands[args.command_name](args)


if __name__ == "__main__":
    sys.exit(main())
