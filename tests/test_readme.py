"""README's "Try it" block, pasted into a shell as a newcomer would, against a server on another port."""

import re
import subprocess
import time

import pytest

from profiles.services import register_user

from .live import ROOT

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "chat-demo-pass"


def try_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Try it") :]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


def test_the_try_it_commands_run_as_written_on_any_port(daphne, transactional_db, tmp_path):
    register_user("alice", DEMO_PASSWORD, "Alice")
    register_user("bob", DEMO_PASSWORD, "Bob")
    port = daphne.address.rsplit(":", 1)[1]
    assert port != "8000"
    output = tmp_path / "try-it.out"
    with open(output, "wb") as out:
        shell = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", try_it_block()],
            cwd=ROOT,
            env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "PORT": port},
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        # The last command is the interactive socket client: type a ping, wait for the pong, then ^D.
        shell.stdin.write(b'{"type":"ping"}\n')
        shell.stdin.flush()
        deadline = time.monotonic() + 60
        while '"pong"' not in output.read_text() and shell.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        shell.stdin.close()
        shell.wait(30)
    text = output.read_text()
    assert shell.returncode == 0, text
    assert text.count('"content":"hi 👋"') == 2, text  # the message, then the conversation list's last_message
    assert '{"type":"ready","user_id":' in text, text  # frames are compact JSON, as the REST answers
    assert '{"type":"pong"}' in text, text
