"""Celery beat runs on every node and fires on one: the lease in Redis (chat_project/beat.py).

Two schedulers share this run's Redis, as the beats of two nodes share the
cluster's; each records what it would send instead of publishing it.
"""

import os
import subprocess
import sys
import time

import pytest
from celery import Celery

from chat_project.beat import LeasedScheduler, lease_key
from chat_project.common.redis_client import get_redis

from .conftest import wait_for
from .live import ROOT

SWEEP = "messaging.tasks.sweep_unfinished_fan_out"


@pytest.fixture
def beats(settings, tmp_path):
    settings.CHAT_BEAT_LEASE_SECONDS = 1.5
    app = Celery("beat-test", broker="memory://", set_as_current=False)
    app.conf.beat_schedule = {"sweep": {"task": SWEEP, "schedule": 0.2}}
    fired: list[str] = []
    made = []

    def make(name: str) -> LeasedScheduler:
        class Recording(LeasedScheduler):
            def apply_async(self, entry, producer=None, advance=True, **kwargs):
                fired.append(name)

        scheduler = Recording(app=app, schedule_filename=str(tmp_path / name), lazy=False)
        made.append(scheduler)
        return scheduler

    yield make, fired
    for scheduler in made:
        scheduler.close()


def run(schedulers, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for scheduler in schedulers:
            scheduler.tick()
        time.sleep(0.05)


def test_two_beats_on_one_redis_fire_the_sweeper_from_one_only(beats):
    make, fired = beats
    first, second = make("first"), make("second")
    run([first, second], 2.0)
    assert fired.count("first") >= 5
    assert "second" not in fired
    assert get_redis().get(lease_key()) == first.lease.token
    # Renewed past its 1.5 s lifetime: still the same holder.
    assert get_redis().pttl(lease_key()) > 0


def test_another_beat_takes_over_when_the_holder_dies_without_a_word(beats):
    make, fired = beats
    first, second = make("first"), make("second")
    run([first, second], 0.6)
    assert set(fired) == {"first"}
    fired.clear()
    # The first beat stops ticking (killed): its lease lapses, then the second fires.
    started = time.monotonic()
    while "second" not in fired:
        assert time.monotonic() - started < 4, "the second beat never took over"
        run([second], 0.1)
    assert time.monotonic() - started >= 0.5  # not before the lease lapsed
    assert "first" not in fired


def test_a_beat_that_stops_hands_the_lease_over_at_once(beats):
    make, fired = beats
    first, second = make("first"), make("second")
    run([first, second], 0.6)
    first.close()
    assert get_redis().get(lease_key()) is None
    fired.clear()
    run([second], 0.8)  # its next check, a third of the lease, comes within 0.5 s
    assert "second" in fired


@pytest.mark.e2e
def test_two_real_beat_processes_fire_from_one_and_the_other_takes_over_after_a_kill(tmp_path):
    """`celery beat` twice on this run's Redis, as on two nodes; the holder is killed with SIGKILL."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings_test",
        "CHAT_SWEEP_INTERVAL_SECONDS": "1",
        "CHAT_BEAT_LEASE_SECONDS": "3",
    }
    procs, logs = {}, {}
    for name in ("first", "second"):
        logs[name] = tmp_path / f"{name}.log"
        with logs[name].open("w") as out:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "chat_project", "beat", "--loglevel", "INFO",
                 "--schedule", str(tmp_path / f"{name}-schedule")],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if name == "first":
            wait_for(lambda: "beat lease taken" in logs["first"].read_text(), timeout=30)

    def fired(name: str) -> int:
        return logs[name].read_text().count("Sending due task")

    try:
        wait_for(lambda: fired("first") >= 4, timeout=20)
        assert procs["second"].poll() is None
        assert fired("second") == 0
        procs["first"].kill()
        procs["first"].wait(10)
        killed_at = time.monotonic()
        wait_for(lambda: fired("second") >= 2, timeout=20)
        # Not before the dead holder's lease lapsed (3 s, less the time since its last renewal).
        assert time.monotonic() - killed_at >= 1
        assert "beat lease taken" in logs["second"].read_text()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    # A beat that stops gives its lease back.
    assert get_redis().get(lease_key()) is None
