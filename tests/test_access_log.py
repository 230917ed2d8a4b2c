"""daphne's access log under `make run` (scripts/web_process.py): written at INFO, not at WARNING.

Each line is a write on the event loop to supervisord's pipe; in a reconnect
storm that was 10-15 % of a daphne's loop (docs/benchmarks.md).
"""

import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def output_after_a_request_and_a_socket(server, user) -> str:
    with urllib.request.urlopen(f"http://{server.address}/healthz", timeout=5) as response:
        assert response.status == 200
    sock = server.socket(user.token)
    assert sock.expect("ready")["user_id"] == user.id
    sock.close()
    return Path(server.log.name).read_text()


@pytest.mark.parametrize(
    "env,written",
    [
        ({}, True),  # make run's default: CHAT_LOG_LEVEL=INFO
        ({"CHAT_LOG_LEVEL": "WARNING"}, False),  # as make bench runs it
        ({"CHAT_LOG_LEVEL": "WARNING", "CHAT_ACCESS_LOG": "on"}, True),
        ({"CHAT_ACCESS_LOG": "off"}, False),
    ],
)
def test_the_access_log_follows_the_log_level_unless_chat_access_log_says(start_daphne, make_user, env, written):
    # Unbuffered, as `make run` starts it (scripts/run.py): each line reaches the log at once.
    server = start_daphne(web_process=True, PYTHONUNBUFFERED="1", **env)
    output = output_after_a_request_and_a_socket(server, make_user("watched"))
    assert ('"GET /healthz" 200' in output) is written, output[-2000:]
    assert ('"WSCONNECT /ws/chat/"' in output) is written, output[-2000:]
