"""`make lint` prints nothing but its result, even before the first `make run`."""

import os
import subprocess

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.unit


def test_migration_check_needs_no_database():
    # A database that does not exist, as on a clone where `make run` never ran:
    # the check used to warn "Unknown database" through Django's history check.
    env = {**os.environ, "CHAT_DB_NAME": "chat_never_created", "CHAT_DB_PORT": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        ["make", "-s", "check-migrations"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr == ""
