"""`make run` as a developer runs it: set-up, then every process under supervisord.

Each test starts the real `make run` on a free port against its own database
(chat_makerun_<pid>, created by the set-up and dropped at the end) and this
test run's Redis databases and prefixes, then stops it the ways a user
does: Ctrl-C in a terminal (SIGINT to the whole foreground process group),
SIGTERM to make, or the death of the process that started make.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import MySQLdb
import pytest
from django.conf import settings
from websockets.sync.client import connect

from scripts import run

from .conftest import wait_for
from .live import ROOT, Socket, free_port, proc_stat

# A start may migrate a new database and a stop may wait for every process:
# the test's own limit covers both with room, so a busy machine gives the
# clear failure of START_TIMEOUT or STOP_TIMEOUT, never pytest-timeout's.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PASSED_ENV = (
    "CHAT_REDIS_URL",
    "CHAT_REDIS_PREFIX",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_PREFIX",
    "CHAT_CHANNEL_LAYER_URL",
    "CHAT_CHANNEL_PREFIX",
)
DEMO_PASSWORD = "chat-demo-pass"
# The first start migrates a new database on a busy 2-core machine.
START_TIMEOUT = 180
STOP_TIMEOUT = 90


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        fields = proc_stat(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_running(pid: int, start_time: str) -> bool:
    """The same process (not a reused pid) exists and is not a zombie."""
    entry = process_table().get(pid)
    return entry is not None and entry[2] == start_time and entry[1] != "Z"


def can_listen(port: int) -> bool:
    """A new server (SO_REUSEADDR, as daphne and supervisord set) could listen on the port."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class MakeRun:
    """`make run PORT=…` in the background, with its output in a log file.

    ``under_shell`` starts it from a shell that waits for it, as a script or
    a terminal would, so that a test can kill make's parent.
    """

    def __init__(self, env: dict[str, str], log_path: Path, under_shell: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = ["make", "run", f"PORT={self.port}"]
        if under_shell:
            # "; exit" keeps the shell from exec'ing make: it stays make's parent.
            command = ["sh", "-c", " ".join(command) + "; exit $?"]
        with open(log_path, "wb") as log:
            # Its own session and process group, like a terminal's foreground
            # job: signals reach it only when a test sends them.
            self.started = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.make_pid = self.started.pid
        if under_shell:
            wait_for(lambda: self.children(self.started.pid, process_table()), timeout=30, interval=0.1)
            [self.make_pid] = self.children(self.started.pid, process_table())
        self.make_start = process_table()[self.make_pid][2]
        wait_for(self.healthy, timeout=START_TIMEOUT, interval=0.5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def make_running(self) -> bool:
        self.started.poll()  # reaps the started process once it exits
        return is_running(self.make_pid, self.make_start)

    def healthy(self) -> bool:
        if not self.make_running():
            raise AssertionError(f"make run exited:\n{self.log()[-5000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def children(self, parent: int, table: dict[int, tuple[int, str, str]]) -> list[int]:
        return sorted(pid for pid, (ppid, state, _) in table.items() if ppid == parent and state != "Z")

    def processes(self) -> dict[int, str]:
        """pid -> start time of make and of every process below it."""
        table = process_table()
        found, frontier = {self.make_pid: self.make_start}, [self.make_pid]
        while frontier:
            for pid in self.children(frontier.pop(), table):
                found[pid] = table[pid][2]
                frontier.append(pid)
        return found

    def supervised(self, pattern: str) -> list[int]:
        """Pids of the programs supervisord started whose command line contains ``pattern``."""
        table = process_table()
        # make -> scripts/run.py -> supervisord -> programs
        [launcher] = self.children(self.make_pid, table)
        [supervisord] = self.children(launcher, table)
        assert "supervisord" in command_line(supervisord), command_line(supervisord)
        return [pid for pid in self.children(supervisord, table) if pattern in command_line(pid)]

    def web_pids(self) -> list[int]:
        return self.supervised("daphne --fd 0")

    def worker_pids(self, queue: str) -> list[int]:
        return self.supervised(f"-Q {queue} ")

    def stop(self, send: Callable[[], None]) -> None:
        """Stop it with ``send``; make and every process it started must go and free the port.

        Besides the processes seen now, nothing may be left in make's session
        or supervisord's: that catches a child forked later, or orphaned.
        """
        started = self.processes()
        assert len(started) > 1
        [launcher] = self.children(self.make_pid, process_table())
        [supervisord] = self.children(launcher, process_table())
        sessions = (self.started.pid, supervisord)
        send()
        wait_for(lambda: not [pid for pid, start in started.items() if is_running(pid, start)], timeout=STOP_TIMEOUT)
        wait_for(lambda: not [pid for sid in sessions for pid in run.session_members(sid)], timeout=STOP_TIMEOUT)
        assert can_listen(self.port)

    def kill_all(self) -> None:
        """After a failed test: leave nothing running."""
        if self.make_running():
            os.kill(self.make_pid, signal.SIGTERM)
            try:
                wait_for(lambda: not self.make_running(), timeout=STOP_TIMEOUT)
            except AssertionError:
                for pid in self.processes():
                    os.kill(pid, signal.SIGKILL)
        if self.started.poll() is None:
            self.started.kill()
            self.started.wait()


@pytest.fixture(scope="module")
def run_env(tmp_path_factory):
    """The environment of `make run`: its own database, this test run's Redis prefixes."""
    database = f"chat_makerun_{os.getpid()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
        "CHAT_DB_NAME": database,
        "CHAT_WEB_PROCESSES": "2",
        "CHAT_RATE_LIMITS": "off",
        "CHAT_BEAT_SCHEDULE": str(tmp_path_factory.mktemp("beat") / "schedule"),
    }
    assert settings.CHAT_REDIS_URL  # settings_test has filled the Redis variables in
    env.update({name: os.environ[name] for name in PASSED_ENV})
    yield env
    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
    conn.close()


@pytest.fixture
def make_run(run_env, tmp_path):
    servers = []

    def start(under_shell: bool = False) -> MakeRun:
        server = MakeRun(run_env, tmp_path / f"make-run-{len(servers)}.log", under_shell)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill_all()


def login(server: MakeRun, username: str) -> tuple[int, str]:
    status, body = http("POST", f"{server.url}/api/v1/auth/token", {"username": username, "password": DEMO_PASSWORD})
    assert status == 200, body
    return body["user_id"], body["token"]


def established_by_pid(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to ``port`` (the server's side) each of ``pids`` holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    counts = {}
    for pid in pids:
        links = []
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                links.append(os.readlink(fd))
        counts[pid] = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
    return counts


def test_connections_are_spread_over_the_web_processes(make_run):
    """Each daphne listens on its own socket (SO_REUSEPORT): a burst of connects reaches both evenly."""
    server = make_run()
    web = server.web_pids()
    assert len(web) == 2
    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(100)]
    try:
        wait_for(lambda: sum(established_by_pid(web, server.port).values()) == 100, timeout=30)
        counts = established_by_pid(web, server.port)
        # An even split hashed over the clients' ports: fewer than 25 of 100 on one has odds below 1e-6.
        assert min(counts.values()) >= 25, counts
    finally:
        for client in clients:
            client.close()
    server.stop(lambda: os.kill(server.make_pid, signal.SIGTERM))


def test_crashed_processes_restart_and_sigterm_to_make_stops_everything(make_run):
    server = make_run()
    web = server.web_pids()
    assert len(web) == 2
    for queue in ("realtime", "delayed", "retry"):
        assert len(server.worker_pids(queue)) == 1, queue

    [realtime] = server.worker_pids("realtime")
    os.kill(web[0], signal.SIGKILL)
    os.kill(realtime, signal.SIGKILL)
    # The other daphne process goes on answering on the same port.
    assert server.healthy()
    wait_for(lambda: len(server.web_pids()) == 2 and web[0] not in server.web_pids(), timeout=60)
    wait_for(lambda: server.worker_pids("realtime") and realtime not in server.worker_pids("realtime"), timeout=60)

    _alice_id, alice_token = login(server, "alice")
    bob_id, bob_token = login(server, "bob")
    bob = Socket(connect(f"ws://127.0.0.1:{server.port}/ws/chat/?token={bob_token}", open_timeout=10))
    try:
        bob.expect("ready", user_id=bob_id)
        status, message = http(
            "POST",
            f"{server.url}/api/v1/messages",
            {"to": bob_id, "content": "after the crash", "client_msg_id": f"makerun-{os.getpid()}"},
            alice_token,
        )
        assert status == 201, message
        pushed = bob.expect("message", timeout=30)
        assert pushed["message"]["content"] == "after the crash"
        assert pushed["message"]["msg_id"] == message["msg_id"]
    finally:
        bob.close()

    server.stop(lambda: os.kill(server.make_pid, signal.SIGTERM))
    assert "web_0" in server.log() and "realtime |" in server.log()


def test_ctrl_c_stops_everything(make_run):
    """A terminal's Ctrl-C: SIGINT to the whole foreground process group."""
    server = make_run()
    assert len(server.web_pids()) == 2
    server.stop(lambda: os.killpg(server.make_pid, signal.SIGINT))


def test_death_of_makes_parent_stops_everything(make_run):
    """The shell or script that started make dies without a word (SIGKILL)."""
    server = make_run(under_shell=True)
    assert len(server.web_pids()) == 2
    server.stop(lambda: os.kill(server.started.pid, signal.SIGKILL))
