"""A `make cluster` of its own for a test module: `scripts/cluster.py up` in the background.

Its names (namespaces, bridge, subnet, state directory) are the module's own,
so it never meets a `make cluster` or another module's cluster on the same
machine. Commands (`status`, `exec`, `fault`) run with the same environment.
Stopping it must leave no namespace behind; ``stop`` falls back to
``cluster.py down --force`` when `up` does not end by itself.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import MySQLdb

from .live import ROOT, free_port

CLUSTER = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "cluster.py")]
START_TIMEOUT = 300
STOP_TIMEOUT = 120


def namespaces(prefix: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix)]


def bootstrap() -> None:
    """What make cluster installs first (haproxy, galera-4, RabbitMQ, ...): make test's set-up does not."""
    done = subprocess.run(["bash", "scripts/bootstrap.sh", "cluster"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


class RunningCluster:
    def __init__(self, prefix: str, subnet: str, directory: str, log_name: str) -> None:
        self.prefix = prefix
        self.dir = Path(directory)
        assert not namespaces(prefix), f"namespaces {namespaces(prefix)} exist: is such a cluster running?"
        # What a fault interrupted last time injected (scripts/cluster_faults.py) is no longer there.
        (self.dir / "faults.json").unlink(missing_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / log_name
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "CHAT_RATE_LIMITS": "off",
            # Three hosts and their engines on this machine's cores: a daphne reads
            # frames late, or a worker runs behind, for the machine's reasons, and the
            # overload bounds (messaging/admission.py) would refuse sends these tests
            # expect acked. tests/test_overload.py tests them; `make cluster` keeps them.
            "CHAT_FRAME_WAIT_MAX_MS": "0",
            "CHAT_FAN_OUT_LAG_MAX_MS": "0",
            "CHAT_CLUSTER_APP": "contract",
            "CHAT_CLUSTER_PREFIX": prefix,
            "CHAT_CLUSTER_SUBNET": subnet,
            "CHAT_CLUSTER_DIR": directory,
        }
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*CLUSTER, "up", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not self.ready():
                assert time.monotonic() < deadline, f"cluster not up in {START_TIMEOUT} s:\n{self.log()[-3000:]}"
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        self.state = json.loads((self.dir / "state.json").read_text())
        self.hosts = [self.state["hosts"][f"{prefix}{i}"] for i in (1, 2, 3)]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"cluster.py up exited with {self.proc.returncode}:\n{self.log()[-5000:]}")
        return "Serving http://" in self.log()

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLUSTER, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def status(self) -> dict:
        done = self.run("status", "--json", timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def db(self):
        """MariaDB through haproxy's single-writer frontend, as the app nodes reach it."""
        net = self.state["subnet"].split("/")[0].rsplit(".", 1)[0]
        return MySQLdb.connect(
            host=f"{net}.1",
            port=3306,
            user="chat",
            passwd=self.state["secrets"]["db"],
            db="chat",
            autocommit=True,
            connect_timeout=5,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_TIMEOUT)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if namespaces(self.prefix):
            self.run("down", "--force", timeout=STOP_TIMEOUT)
        assert namespaces(self.prefix) == [], f"left behind: {namespaces(self.prefix)}"
