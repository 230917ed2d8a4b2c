"""Where an idle socket's memory goes in daphne: tracemalloc before and after N sockets.

    python -m scripts.bench.heap [N]        # default 2000 sockets

Starts one daphne (the bench's settings and database, as the idle phase does)
with tracemalloc on (``BENCH_HEAP_FRAMES`` frames, default 12), opens one
socket and closes it (imports and caches warm), takes a snapshot, opens N
authenticated idle sockets, waits, takes another, and prints:

- the RSS and the traced Python memory per socket (what tracemalloc does not
  see: the allocator's slack, and C allocations outside Python's);
- the allocation sites that grew, per socket, by line and by the call path
  that led to them (``BENCH_HEAP_TOP`` of each, default 25).

tracemalloc slows daphne several times over: the figures are bytes, not time
(and the connect gate is off, or the slowed daphne refuses sockets with 1013).
The profile behind docs/benchmarks.md's "A hundred thousand sockets".
"""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from . import system, users
from .load import close_many, connect, connect_many

FRAMES = int(os.environ.get("BENCH_HEAP_FRAMES") or 12)
TOP = int(os.environ.get("BENCH_HEAP_TOP") or 25)

# Run inside the profiled daphne: SIGUSR1 writes a snapshot to the path in BENCH_HEAP_SNAPSHOT.
WRAPPER = """
import os, signal, sys, tracemalloc
def dump(signum, frame):
    tracemalloc.take_snapshot().dump(os.environ["BENCH_HEAP_SNAPSHOT"])
    open(os.environ["BENCH_HEAP_SNAPSHOT"] + ".done", "w").close()
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["daphne", *sys.argv[1:]]
from daphne.cli import CommandLineInterface
CommandLineInterface.entrypoint()
"""


def say(text: str) -> None:
    print(f"[heap {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def snapshot(pid: int, path: Path) -> tracemalloc.Snapshot:
    done = Path(str(path) + ".done")
    done.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 300
    while not done.exists():
        if time.monotonic() > deadline:
            raise SystemExit("daphne wrote no snapshot")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(path))


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 2000
    system.raise_fd_limit()
    system.prepare_database()
    people = users.bulk("benchidle", count)
    port = system.free_port()
    workdir = Path(tempfile.mkdtemp(prefix="chat-heap-"))
    path = workdir / "snapshot"
    command = [sys.executable, "-X", f"tracemalloc={FRAMES}", "-c", WRAPPER, *system.daphne_command(port)[1:]]
    env = system.bench_env(BENCH_HEAP_SNAPSHOT=str(path), CHAT_CONNECT_WAIT_MAX_MS="0")
    daphne = system.Service("heap", command, port, env, timeout=300)
    url = f"ws://127.0.0.1:{port}/ws/chat/?token="
    try:

        async def run() -> tuple[tracemalloc.Snapshot, tracemalloc.Snapshot, int, int]:
            warm = await connect(url + people[0]["token"])
            await warm.close()
            await asyncio.sleep(2)
            rss_before = system.rss_kb(daphne.pid)
            before = await asyncio.to_thread(snapshot, daphne.pid, path)
            # Few at a time: a daphne slowed by tracemalloc rejects a handshake not answered within 5 s.
            sockets = await connect_many([url + p["token"] for p in people], concurrency=10, label="heap")
            await asyncio.sleep(3)
            rss_after = system.rss_kb(daphne.pid)
            after = await asyncio.to_thread(snapshot, daphne.pid, path)
            await close_many(sockets)
            return before, after, rss_before, rss_after

        before, after, rss_before, rss_after = asyncio.run(run())
    finally:
        daphne.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    report(before, after, rss_before, rss_after, count)
    return 0


def report(before, after, rss_before: int, rss_after: int, count: int) -> None:
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    traced = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    rss = (rss_after - rss_before) * 1024
    print(f"{count} sockets: RSS {rss / count / 1024:.1f} KB per socket, traced {traced / count / 1024:.1f} KB")
    print(f"not traced (allocator slack, C allocations): {(rss - traced) / count / 1024:.1f} KB per socket")
    for key, title in (("lineno", "by line"), ("traceback", "by call path")):
        print(f"\n--- growth {title}, bytes per socket (blocks per socket) ---")
        for stat in after.compare_to(before, key)[:TOP]:
            print(f"{stat.size_diff / count:9.0f} B {stat.count_diff / count:7.2f}  {stat.traceback[0]}")
            if key == "traceback":
                for frame in list(stat.traceback)[1:]:
                    print(f"{'':21}{frame}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
