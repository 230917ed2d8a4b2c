"""BENCH_TARGET=cluster: the same phases through haproxy in front of `make cluster`'s three hosts.

scripts/cluster.py up runs as the bench's own process (as the `make run`
launcher does for the single machine), under names, addresses and a directory
of its own (BENCH_CLUSTER_PREFIX, _SUBNET, _DIR: ``cbench``, 10.231.23.0/25,
/var/lib/chat-cluster-bench), so it never meets a `make cluster` (chatc*),
the tests' cluster (ctest*) or anyone else's. Where the single-machine bench
reads Redis or MariaDB directly, this reads the cluster's own engines:

  realtime queue depth  RabbitMQ: a passive declare of the ``realtime`` queue
                        (its ready messages, as LLEN is on Redis), over AMQP
  stored / duplicated   the Galera writer, through haproxy's MySQL frontend
  footprint             the Redis Cluster (its startup nodes, every master scanned)
                        and the Galera writer
  CPU per kind          every process the state file records, with its children
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import system

PREFIX = os.environ.get("BENCH_CLUSTER_PREFIX", "cbench")
DIR = Path(os.environ.get("BENCH_CLUSTER_DIR", "/var/lib/chat-cluster-bench"))
SUBNET = os.environ.get("BENCH_CLUSTER_SUBNET", "10.231.23.0/25")
# A cluster already running under BENCH_CLUSTER_DIR (the tests' own): used as it is, neither started nor stopped.
ATTACH = os.environ.get("BENCH_CLUSTER_ATTACH", "") in ("1", "on", "yes")
START_TIMEOUT = float(os.environ.get("BENCH_CLUSTER_TIMEOUT", "400"))
STOP_TIMEOUT = 180
# The app's Redis key prefix (settings.CHAT_REDIS_PREFIX's default: deploy/app.env sets none).
APP_REDIS_PREFIX = "chat"
SCRIPT = str(system.ROOT / "scripts" / "cluster.py")


def cluster_env() -> dict[str, str]:
    """scripts/cluster.py's environment: its names, and what the app nodes inherit (deploy/app.env wins)."""
    return {
        **os.environ,
        "CHAT_CLUSTER_PREFIX": PREFIX,
        "CHAT_CLUSTER_DIR": str(DIR),
        "CHAT_CLUSTER_SUBNET": SUBNET,
        "CHAT_RATE_LIMITS": "off",
        "DJANGO_DEBUG": os.environ.get("BENCH_DJANGO_DEBUG", "off"),
        "CHAT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
    }


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


class ClusterService(system.Service):
    """`scripts/cluster.py up` behind haproxy on ``port``; ready once haproxy has every app node UP."""

    def __init__(self, port: int) -> None:
        started = time.monotonic()
        self.attached = ATTACH
        if self.attached:
            self.state = self.read_state()
            if not self.state.get("ready") or self.state.get("bind") != "127.0.0.1":
                raise RuntimeError(f"BENCH_CLUSTER_ATTACH: no ready cluster on 127.0.0.1 recorded in {DIR}")
            self.name, self.port, self.log = "cluster", int(self.state["port"]), DIR / "logs"
        else:
            command = [sys.executable, SCRIPT, "up", "--port", str(port), "--bind", "127.0.0.1"]
            super().__init__("cluster", command, port, cluster_env(), timeout=START_TIMEOUT)
            # haproxy answers /healthz as soon as one app node is UP: wait for all three.
            deadline = started + START_TIMEOUT
            while not self.read_state().get("ready"):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the cluster did not become ready; see {self.log}")
                time.sleep(0.5)
            self.state = self.read_state()
        self.healthy_after = round(time.monotonic() - started, 1)
        self.ready_after = round(self.state["ready"], 1)
        first = sorted(self.state["hosts"])[0]
        # Host 1's app environment (rendered by cluster.py, root-only): the writer, Redis, RabbitMQ.
        self.app = parse_env((DIR / "hosts" / first / "app.env").read_text())
        self.env = {
            **{k: v for k, v in system.bench_env().items() if not k.startswith(("CHAT_", "CELERY_"))},
            **self.app,
            "CHAT_RATE_LIMITS": "off",
        }
        self.db_args = {
            "host": self.app["CHAT_DB_HOST"],
            "port": int(self.app["CHAT_DB_PORT"]),
            "user": self.app["CHAT_DB_USER"],
            "passwd": self.app["CHAT_DB_PASSWORD"],
            "db": self.app["CHAT_DB_NAME"],
        }

    @property
    def pid(self) -> int:
        return self.state["pid"] if self.attached else self.proc.pid

    @staticmethod
    def read_state() -> dict:
        try:
            return json.loads((DIR / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def describe(self) -> dict:
        return {
            "prefix": PREFIX,
            "attached": self.attached,
            "subnet": SUBNET,
            "hosts": self.state["hosts"],
            "started_in_s": self.ready_after,
            "healthy_through_haproxy_after_s": self.healthy_after,
            "recorded_processes": len(self.state["processes"]),
        }

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM: cluster.py stops the apps, then the engines, and removes the namespaces."""
        if self.attached:
            return
        super().stop(timeout)
        if (DIR / "state.json").exists():
            # It was killed mid-way: what it recorded is still there.
            subprocess.run([sys.executable, SCRIPT, "down", "--force"], env=cluster_env(), cwd=system.ROOT, check=False)

    # --- the cluster's equivalents of the single machine's direct reads ---------------------

    def redis(self):
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [url.removeprefix("redis://").rsplit(":", 1) for url in self.app["CHAT_REDIS_URL"].split(",")]
        return RedisCluster(startup_nodes=[ClusterNode(h, int(p)) for h, p in nodes], socket_timeout=10)

    def snapshot(self) -> dict[int, tuple[str, float]]:
        """{pid: (kind, cpu seconds)}: each recorded process's tree by its record's name, the app nodes
        by system.kind_of (daphne, celery[queue], ...), cluster.py itself and the generator."""
        found: dict[int, str] = {self.pid: "cluster.py"}
        for name, entry in self.state["processes"].items():
            root = entry["pid"]
            if system.cpu_seconds(root) is None:
                continue
            if name.startswith("app-"):
                for pid in [root, *system.descendants(root)]:
                    kind = system.kind_of(pid, root)
                    found[pid] = "app-launcher" if kind == "launcher" else kind
            else:
                # galera-, redis- (Redis Cluster), layer-, sentinel-, rabbitmq-, epmd-, haproxy
                kind = {"redis": "redis-cluster", "layer": "redis-layer", "sentinel": "redis-sentinel"}.get(
                    name.split("-")[0], name.split("-")[0]
                )
                for pid in [root, *system.descendants(root)]:
                    found[pid] = kind
        found[os.getpid()] = "generator"
        result = {}
        for pid, kind in found.items():
            seconds = system.cpu_seconds(pid)
            if seconds is not None:
                result[pid] = (kind, seconds)
        return result

    def spread(self) -> dict[str, int]:
        """haproxy's current sessions per app node: how the sockets were spread over the hosts."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(DIR / "haproxy" / "haproxy.sock"))
            client.sendall(b"show stat\n")
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: int(row["scur"] or 0)
            for row in rows
            if row["pxname"] == "app" and row["svname"] not in ("FRONTEND", "BACKEND")
        }
