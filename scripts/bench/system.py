"""The processes the benchmark runs and measures.

Everything runs against a database and Redis key prefixes of its own
(``BENCH_DB_NAME``, ``BENCH_PREFIX``), so a `make run` or a test run on the
same MariaDB and Redis is never disturbed.
"""

import contextlib
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import MySQLdb
import redis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

DB_NAME = os.environ.get("BENCH_DB_NAME", "chat_bench")
PREFIX = os.environ.get("BENCH_PREFIX", "bench")
BROKER_PREFIX = PREFIX + ":"
CHANNEL_PREFIX = "asgi-" + PREFIX
REDIS_URL = os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
LAYER_URL = os.environ.get("CHAT_CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/2")
# Output of every process the benchmark starts: bench-<service>.log.
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", ROOT))
# Same command as the Procfile's web line (and the test servers).
DAPHNE_APP = "chat_project.asgi:application"
RELAY_APP = "scripts.bench_relay:application"


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every process the benchmark starts."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
        "CHAT_DB_NAME": DB_NAME,
        "CHAT_REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CHAT_CHANNEL_LAYER_URL": LAYER_URL,
        "CHAT_REDIS_PREFIX": PREFIX,
        "CELERY_BROKER_PREFIX": BROKER_PREFIX,
        "CHAT_CHANNEL_PREFIX": CHANNEL_PREFIX,
        "CHAT_RATE_LIMITS": "off",
        # DEBUG keeps every SQL query in memory: measure the production mode.
        "DJANGO_DEBUG": os.environ.get("BENCH_DJANGO_DEBUG", "off"),
        "CHAT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        # celery beat's schedule file: never the one a `make run` on this machine writes.
        "CHAT_BEAT_SCHEDULE": str(Path(tempfile.gettempdir()) / f"chat-celerybeat-schedule-{PREFIX}"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CHAT_TEST_RUN", None)
    env.update(extra)
    return env


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; every process started later inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def database_args() -> dict:
    """MySQLdb.connect() arguments for the bench database (the server's CHAT_DB_* settings)."""
    return {
        "host": os.environ.get("CHAT_DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CHAT_DB_PORT", "3306")),
        "user": os.environ.get("CHAT_DB_USER", "root"),
        "passwd": os.environ.get("CHAT_DB_PASSWORD", ""),
        "db": DB_NAME,
    }


def prepare_database(*, empty: bool = False) -> None:
    """Create the bench database (utf8mb4) and migrate it, as `make database` does for the dev one.

    With ``empty``, drop it first: `make bench` starts every run from an empty database, as
    from empty Redis prefixes (`clear_redis`), since the messages an earlier run left (its
    overload minute adds a few hundred thousand) would make one run's figures drift from
    the last's. The data set of the `scale` phase is resumable and is not dropped. The
    server's own database (CHAT_DB_NAME, `chat` by default) is never dropped.
    """
    if empty:
        if os.environ.get("CHAT_DB_NAME", "chat") == DB_NAME:
            raise SystemExit(f"BENCH_DB_NAME={DB_NAME!r} is the server's own database, which the bench never drops")
        args = database_args()
        del args["db"]
        conn = MySQLdb.connect(**args)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
        finally:
            conn.close()
    env = bench_env()
    for argv in (["scripts/check_services.py", "--create-db"], ["manage.py", "migrate", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=True)


def clear_redis() -> None:
    """Delete the keys of earlier bench runs (queued tasks, layer channels, data), never anyone else's."""
    for url, pattern in (
        (REDIS_URL, PREFIX + ":*"),
        (BROKER_URL, BROKER_PREFIX + "*"),
        (LAYER_URL, CHANNEL_PREFIX + "*"),
    ):
        client = redis.Redis.from_url(url)
        names = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(names), 500):
            client.delete(*names[start : start + 500])
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before /healthz answered; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no 200 from http://127.0.0.1:{port}/healthz within {timeout:.0f} s; see {log}")


def launcher_command(port: int) -> str:
    """The command `make run` runs, for this port.

    Read from `make -n run` (its last line that is not an echo), so the
    benchmark follows whatever launcher the Makefile uses. BENCH_LAUNCHER
    overrides it ({port} is replaced).
    """
    override = os.environ.get("BENCH_LAUNCHER")
    if override:
        return override.replace("{port}", str(port))
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", f"PORT={port}", "BIND=127.0.0.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    lines = [line for line in lines if not line.lstrip("@").startswith(("echo ", "printf "))]
    if not lines:
        raise RuntimeError("`make -n run` printed no command")
    return lines[-1]


class Service:
    """A process group the benchmark started: the `make run` launcher or one daphne."""

    def __init__(
        self, name: str, command: str | list[str], port: int, env: dict[str, str], timeout: float = 90
    ) -> None:
        self.name = name
        self.port = port
        self.log = LOG_DIR / f"bench-{name}.log"
        # What the phases use to reach the same data as the service: this machine's bench
        # database and environment (scripts/bench/cluster.py overrides both).
        self.env = env
        self.db_args = database_args()
        # A shell line from the Makefile runs as is; an argv is exec'd, so its pid is the program's own.
        self.command = command if isinstance(command, str) else "exec " + shlex.join(command)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", self.command],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(port, self.proc, self.log, timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_until_idle(self, timeout: float = 60, busy: float = 0.1) -> float:
        """Wait until the service's processes together use under ``busy`` of a core for a second; the seconds waited.

        daphne answers before the Celery workers have loaded Django: a
        latency measured at once shares the cores with their start-up (the
        heavy list's first 0.4 s of calls ran at 3-7 times its p50).
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            pids = [self.pid, *descendants(self.pid)]
            before = sum(cpu_seconds(pid) or 0.0 for pid in pids)
            time.sleep(1)
            if sum(cpu_seconds(pid) or 0.0 for pid in pids) - before < busy:
                break
        return round(time.monotonic() - started, 1)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the process group this service runs in; SIGKILL whatever of its tree is left after ``timeout``."""
        tree = [self.pid, *descendants(self.pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
            self.proc.poll()
            time.sleep(0.2)
        for pid in tree:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def daphne_command(port: int, app: str = DAPHNE_APP) -> list[str]:
    return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "--proxy-headers", app]


# --- /proc ----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after its last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat(pid)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float | None:
    fields = _stat(pid)
    # fields[0] is the state (stat field 3): utime and stime are stat fields 14 and 15.
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_files_limit(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError):
        pass
    return None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def kind_of(pid: int, root: int) -> str:
    """daphne, celery[<queues>] (a worker and its pool children), shell, launcher, or the program's name."""
    comm = _comm(pid)
    argv = [a for a in _cmdline(pid) if a]
    if comm in ("sh", "dash", "bash"):
        return "shell"
    if any("daphne" in a for a in argv):
        return "daphne"
    if any(a.endswith("celery") for a in argv) or comm == "celery":
        for index, arg in enumerate(argv):
            if arg in ("-Q", "--queues") and index + 1 < len(argv):
                return f"celery[{argv[index + 1]}]"
            if arg.startswith(("-Q", "--queues=")) and len(arg) > 2:
                return f"celery[{arg.split('=', 1)[-1].removeprefix('-Q')}]"
        return "celery"
    if pid == root:
        return "launcher"
    return comm


def snapshot(roots: list[int], names: tuple[str, ...] = ("mariadbd", "redis-server")) -> dict[int, tuple[str, float]]:
    """{pid: (kind, cpu seconds)} of the trees under ``roots``, MariaDB, Redis and this generator."""
    found: dict[int, str] = {}
    for root in roots:
        for pid in [root, *descendants(root)]:
            found[pid] = kind_of(pid, root)
    for pid in _all_pids():
        comm = _comm(pid)
        if comm in names:
            found[pid] = comm
    found[os.getpid()] = "generator"
    result = {}
    for pid, kind in found.items():
        seconds = cpu_seconds(pid)
        if seconds is not None:
            result[pid] = (kind, seconds)
    return result


def cpu_per_kind(before: dict, after: dict) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds used between two snapshots per kind of process, and how many processes of each kind."""
    used: dict[str, float] = {}
    count: dict[str, int] = {}
    for pid, (kind, seconds) in after.items():
        start = before.get(pid, (kind, 0.0))[1]
        used[kind] = used.get(kind, 0.0) + max(0.0, seconds - start)
        count[kind] = count.get(kind, 0) + 1
    return used, count
