"""The idle phase's socket generators die with the process that started them (scripts/bench/idle.py).

Killed outright, the phase never tells them to stop; before, they went on
holding their sockets and a core each until found and killed by hand.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from .conftest import wait_for
from .live import ROOT, proc_stat

pytestmark = pytest.mark.e2e

PHASE = textwrap.dedent(
    """
    import sys, time
    from scripts.bench.idle import Generators
    generators = Generators([sys.argv[1]] * 2)
    while not generators.pids:
        time.sleep(0.05)
    print(*generators.pids.values(), flush=True)
    time.sleep(120)
    """
)


def alive(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


@pytest.mark.timeout(120)
def test_a_killed_phase_takes_its_generators_with_it():
    # A server that accepts and never answers the handshake: the generators wait, connecting.
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"ws://127.0.0.1:{server.getsockname()[1]}/ws/chat/?token=x"
        phase = subprocess.Popen(
            [sys.executable, "-c", PHASE, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert phase.stdout is not None
            pids = [int(pid) for pid in phase.stdout.readline().split()]
            assert pids and all(alive(pid) for pid in pids)
            os.kill(phase.pid, signal.SIGKILL)
            phase.wait()
            wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30)
        finally:
            if phase.poll() is None:
                phase.kill()
