"""Log how long each garbage collection of the system's processes takes (the profile behind frozen_heap.py).

    PYTHONPATH=scripts/bench/gc_log BENCH_GC_LOG=/tmp/gc make bench

Python imports ``sitecustomize`` at start-up from the path; with this
directory on it, every daphne and Celery process the bench starts appends a
line per collection to ``$BENCH_GC_LOG-<pid>.log``: the time, the pid, the
generation, the milliseconds and the objects collected. Every full
collection (generation 2) is logged, and any other over 5 ms. Without
``BENCH_GC_LOG`` it does nothing. Not for production: the callback runs on
every collection.
"""

import gc
import os
import sys
import time

_PREFIX = os.environ.get("BENCH_GC_LOG")


def _install(prefix: str) -> None:
    log = open(f"{prefix}-{os.getpid()}.log", "a", buffering=1)  # noqa: SIM115 - open for the process's life
    started = [0.0]

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = (time.perf_counter() - started[0]) * 1000
        if info["generation"] == 2 or took > 5:
            log.write(f"{time.time():.1f} {os.getpid()} gen{info['generation']} {took:.1f}ms {info['collected']}\n")

    gc.callbacks.append(timed)


if _PREFIX and any(name in " ".join(sys.argv) for name in ("daphne", "celery")):
    _install(_PREFIX)
