"""Real Redis masters, replicas and Sentinels on loopback ports, for the channel-layer failover tests."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .live import free_port


class SentinelSet:
    """``masters`` shards, each a master with one replica, watched by three sentinels (quorum 2)."""

    def __init__(self, masters: list[str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chat-sentinel-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.names = masters
        self.ports: dict[str, int] = {}
        try:
            for name in masters:
                master, replica = free_port(), free_port()
                self.ports[name] = master
                self._start(f"{name}-master", ["--port", str(master)])
                wait_redis(lambda p=master: redis.Redis(port=p).ping())
                self._start(f"{name}-replica", ["--port", str(replica), "--replicaof", "127.0.0.1", str(master)])
                wait_redis(lambda p=master: redis.Redis(port=p).info("replication")["connected_slaves"] == 1)
            self.sentinel_ports = [free_port() for _ in range(3)]
            for port in self.sentinel_ports:
                conf = self.dir / f"sentinel-{port}.conf"
                lines = [f"port {port}", "bind 127.0.0.1", f"dir {self.dir}"]
                for name in masters:
                    lines += [
                        f"sentinel monitor {name} 127.0.0.1 {self.ports[name]} 2",
                        f"sentinel down-after-milliseconds {name} 1000",
                        f"sentinel failover-timeout {name} 5000",
                    ]
                conf.write_text("\n".join(lines) + "\n")
                self.procs[f"sentinel-{port}"] = subprocess.Popen(
                    ["redis-server", str(conf), "--sentinel"],
                    stdout=(self.dir / f"sentinel-{port}.log").open("w"),
                    stderr=subprocess.STDOUT,
                )
            # Each sentinel knows the others and the replica of every master: failover is possible.
            for port in self.sentinel_ports:
                for name in masters:
                    wait_redis(lambda p=port, n=name: self._sentinel_ready(p, n), timeout=30)
        except BaseException:
            self.stop()
            raise

    def _start(self, label: str, args: list[str]) -> None:
        self.procs[label] = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir), *args],
            stdout=(self.dir / f"{label}.log").open("w"),
            stderr=subprocess.STDOUT,
        )

    @staticmethod
    def _sentinel_ready(port: int, name: str) -> bool:
        client = redis.Redis(port=port, decode_responses=True)
        return (
            len(client.execute_command("SENTINEL", "REPLICAS", name)) == 1
            and len(client.execute_command("SENTINEL", "SENTINELS", name)) == 2
        )

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.sentinel_ports]

    def master_port(self, name: str) -> int:
        client = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        return int(client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)[1])

    def kill_master(self, name: str) -> int:
        """kill -9 the current master of ``name``; returns its port."""
        port = self.master_port(name)
        pid = int(redis.Redis(port=port).info("server")["process_id"])
        label = next(label for label, proc in self.procs.items() if proc.pid == pid)
        self.procs[label].kill()
        self.procs[label].wait(10)
        return port

    def wait_promoted(self, name: str, old_port: int, timeout: float = 30) -> int:
        def promoted() -> bool:
            port = self.master_port(name)
            return port != old_port and redis.Redis(port=port).info("replication")["role"] == "master"

        wait_redis(promoted, timeout)
        return self.master_port(name)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_redis(condition, timeout: float = 15, what: str = "Redis / Sentinel") -> None:
    """Poll ``condition`` until true; a Redis error or a missing key in an answer counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come up")
        time.sleep(0.2)
