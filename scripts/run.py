"""`make run`: every process of the chat server under supervisord, in the foreground.

Starts supervisord with scripts/supervisord.conf: CHAT_WEB_PROCESSES daphne
processes sharing one socket on BIND:PORT (one per core by default), and one
Celery worker per queue. supervisord restarts whichever crashes. On a cluster
CHAT_ROLES (``web,realtime,delayed,retry``, all by default) names the programs
this host runs; the others are left out of the configuration it is given.

Stops everything (supervisord stops each program's whole process group, and
what outlives it in supervisord's session is stopped after it) on SIGTERM,
SIGINT or SIGHUP to this process. Under make that covers every way a
user stops it: Ctrl-C in a terminal signals the whole foreground process
group (make and this launcher alike), and make forwards SIGTERM to its
recipe. Make's own death is seen through PR_SET_PDEATHSIG, and the death of
make's parent (make is then reparented) by watching make's parent pid. A
SIGINT sent to make alone, never to its process group, is not forwarded by
make and stops nothing: no terminal sends one (README.md says so).
"""

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "scripts" / "supervisord.conf"
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
SUPERVISORD_STOP_TIMEOUT = 60
LEFTOVER_GRACE = 5.0
ROLES = ("web", "realtime", "delayed", "retry", "webpush")
# The supervisord section of each role.
ROLE_SECTIONS = {"web": "program:web", "realtime": "program:realtime", "delayed": "program:delayed",
                 "retry": "program:retry", "webpush": "program:webpush"}  # fmt: skip


def die_with_parent() -> None:
    """Have the kernel send SIGTERM to this process when its parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, parent pid, process group,
    session, ...), or None once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it do not.
    return stat[stat.rindex(")") + 2 :].split()


def parent_pid_of(pid: int) -> int | None:
    """The parent pid of ``pid``, or None if it is gone."""
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def session_members(session: int) -> list[int]:
    """The live processes of ``session``. A program's child stays in it when it is orphaned."""
    members = []
    for entry in Path("/proc").iterdir():
        fields = stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and fields[3] == str(session) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_leftovers(session: int, grace: float = LEFTOVER_GRACE) -> list[int]:
    """Stop what outlived supervisord in its session: SIGTERM, then SIGKILL after ``grace`` seconds.

    supervisord signals a program's process group and waits for the program
    itself; a child forked after the signal, or one that survives it (a
    Celery pool or beat process catches SIGTERM before it resets its
    handlers), is orphaned and would keep running, with the port's database
    connections and the broker's consumers, after `make run` returned.
    Returns the pids it found.
    """
    found = session_members(session)
    if not found:
        return []
    names = ", ".join(f"{pid} ({process_name(pid)})" for pid in found)
    print(f"Stopping {len(found)} processes that outlived supervisord: {names}.", flush=True)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_members(session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while session_members(session) and time.monotonic() < deadline:
            time.sleep(0.05)
    return found


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class ParentWatch:
    """Tells when the process that started us, or make's own parent, is gone.

    Only facts that stay true once they happen are read (a changed parent
    pid), so a slow poll on a loaded machine cannot miss them.
    """

    def __init__(self) -> None:
        self.pid = os.getppid()
        # Under make, make's parent (a shell, a CI script) is watched too:
        # when it dies, make is reparented and would otherwise wait forever.
        self.grandparent = parent_pid_of(self.pid) if process_name(self.pid) in ("make", "gmake") else None

    def parent_stopping(self) -> bool:
        if os.getppid() != self.pid:
            return True
        return self.grandparent is not None and parent_pid_of(self.pid) != self.grandparent


def web_processes() -> int:
    value = os.environ.get("CHAT_WEB_PROCESSES")
    if value:
        return max(1, int(value))
    return len(os.sched_getaffinity(0))


def roles() -> list[str]:
    """CHAT_ROLES, checked: the programs this host runs, in their usual order."""
    wanted = {r.strip() for r in os.environ.get("CHAT_ROLES", ",".join(ROLES)).split(",") if r.strip()}
    unknown = wanted - set(ROLES)
    if unknown or not wanted:
        raise SystemExit(f"CHAT_ROLES must be a comma list of {', '.join(ROLES)}; got {os.environ.get('CHAT_ROLES')!r}")
    return [r for r in ROLES if r in wanted]


def render_config(chosen: list[str], run_dir: str) -> Path:
    """scripts/supervisord.conf with only the chosen roles' programs (all roles: the file itself).

    Sections are cut whole, so every program keeps exactly the settings it has
    under `make run`; ``%(here)s`` is spelled out because the copy lives in the run directory.
    """
    if chosen == list(ROLES):
        return CONFIG
    dropped = {ROLE_SECTIONS[r] for r in ROLES if r not in chosen}
    workers = [r for r in chosen if r != "web"]
    out: list[str] = []
    keep = True
    section = ""
    for line in CONFIG.read_text().splitlines():
        if line.startswith("["):
            section = line.strip()[1:-1]
            keep = section not in dropped and not (section == "group:workers" and not workers)
        if keep and section == "group:workers" and line.startswith("programs="):
            line = "programs=" + ",".join(workers)
        if keep:
            out.append(line.replace("%(here)s", str(CONFIG.parent)))
    rendered = Path(run_dir) / "supervisord.conf"
    rendered.write_text("\n".join(out) + "\n")
    return rendered


def port_in_use(bind: str, port: int) -> str | None:
    """Why ``bind:port`` cannot be listened on, or None if it can."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind, port))
        except OSError as exc:
            return exc.strerror
    return None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1"))
    return parser.parse_args()


def main() -> int:
    die_with_parent()
    parent = ParentWatch()
    args = parse_args()
    chosen = roles()
    problem = port_in_use(args.bind, args.port) if "web" in chosen else None
    if problem:
        print(f"Cannot listen on {args.bind}:{args.port}: {problem}. Choose another with PORT=… (or BIND=…).")
        return 1

    stop_requested = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: stop_requested.append(signum))

    run_dir = tempfile.mkdtemp(prefix="chat-run-")
    env = {
        **os.environ,
        "BIND": args.bind,
        "PORT": str(args.port),
        "CHAT_WEB_PROCESSES": str(web_processes()),
        "CHAT_REALTIME_CONCURRENCY": os.environ.get("CHAT_REALTIME_CONCURRENCY", "4"),
        "CHAT_BEAT_SCHEDULE": os.environ.get("CHAT_BEAT_SCHEDULE", str(ROOT / ".venv" / "celerybeat-schedule")),
        "CHAT_RUN_DIR": run_dir,
        "CHAT_NODE_NAME": os.environ.get("CHAT_NODE_NAME") or socket.gethostname(),
        "PYTHONUNBUFFERED": "1",
    }
    config = render_config(chosen, run_dir)
    workers = ", ".join(r for r in chosen if r != "web") or "none"
    serving = (
        f"Serving http://{args.bind}:{args.port}/ (REST /api/v1/, WebSocket /ws/chat/) with "
        f"{env['CHAT_WEB_PROCESSES']} web processes and workers for {workers}."
        if "web" in chosen
        else f"Not serving HTTP (CHAT_ROLES); workers for {workers}."
    )
    print(
        f"{serving} Ctrl-C stops everything. "
        f"Status: .venv/bin/supervisorctl -s unix://{run_dir}/supervisor.sock status",
        flush=True,
    )
    # Its own session, so that a Ctrl-C reaches supervisord once, from here.
    supervisord = subprocess.Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-n", "-c", str(config)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        while supervisord.poll() is None and not stop_requested and not parent.parent_stopping():
            time.sleep(0.2)
        if supervisord.poll() is None:
            supervisord.terminate()
            try:
                supervisord.wait(SUPERVISORD_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print("supervisord did not stop in time; killing it.", flush=True)
                os.killpg(supervisord.pid, signal.SIGKILL)
                supervisord.wait()
        stop_leftovers(supervisord.pid)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if stop_requested or supervisord.returncode == 0:
        return 0
    return supervisord.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
