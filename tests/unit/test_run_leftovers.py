"""`make run` leaves nothing behind: what outlives supervisord in its session is stopped (scripts/run.py)."""

import signal
import subprocess
import sys
import time

import pytest

from scripts import run

pytestmark = pytest.mark.unit

# A session leader that forks an orphan which ignores SIGTERM (as a Celery pool
# or beat process does before it resets its handlers), prints the orphan's pid
# and exits.
ORPHANING_LEADER = """
import os, signal, sys, time
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(1, f"{os.getpid()}\\n".encode())
    os.close(1)
    while True:
        time.sleep(1)
os.waitpid(-1, os.WNOHANG)
sys.exit(0)
"""


def start_orphan(ignores_sigterm: bool = True) -> tuple[int, int]:
    """(session, orphan's pid): the orphan outlived its session's leader."""
    code = ORPHANING_LEADER if ignores_sigterm else ORPHANING_LEADER.replace("signal.SIG_IGN", "signal.SIG_DFL")
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    orphan = int(leader.stdout.readline())
    leader.stdout.close()
    leader.wait(10)
    return leader.pid, orphan


def alive(pid: int) -> bool:
    fields = run.stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def test_an_orphan_that_ignores_sigterm_is_killed(capsys):
    session, orphan = start_orphan()
    try:
        assert run.session_members(session) == [orphan]
        started = time.monotonic()
        assert run.stop_leftovers(session, grace=0.5) == [orphan]
        # SIGTERM did nothing; SIGKILL after the grace did.
        assert time.monotonic() - started >= 0.5
        assert not alive(orphan)
        assert run.session_members(session) == []
        assert f"Stopping 1 processes that outlived supervisord: {orphan} (python" in capsys.readouterr().out
    finally:
        if alive(orphan):
            run.os.kill(orphan, signal.SIGKILL)


def test_an_orphan_that_obeys_sigterm_goes_at_once():
    session, orphan = start_orphan(ignores_sigterm=False)
    started = time.monotonic()
    assert run.stop_leftovers(session, grace=5) == [orphan]
    assert time.monotonic() - started < 4
    assert not alive(orphan)


def test_an_empty_session_is_left_alone(capsys):
    session, orphan = start_orphan()
    run.os.kill(orphan, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.stop_leftovers(session) == []
    assert capsys.readouterr().out == ""
