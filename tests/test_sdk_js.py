"""The JavaScript SDK (sdk/js) end to end: its scenarios run under ``node --test`` against a real daphne.

Each scenario file in sdk/js/test/e2e/ is one test here, with fresh users (alice, bob) and a real
Celery worker for the fan-out. The scenarios reach the server side through a small HTTP server in
this process (``control``): it closes a user's sockets through the channel layer with any close code
(a server dropping them mid-burst), pushes a ``resync`` frame, or lists a user's uploads as the
database holds them (whether a cancelled upload left a row, which message a file is attached to).
The test passes when node exits 0 with every test passed; a scenario that node skips (a server
feature not there yet) is skipped here with node's reason. Only a missing ``node`` skips the whole file.
"""

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chat_project.common import push

from .live import Daphne
from .test_browser import quit_all, start_chromium

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (scripts/bootstrap.sh install)"),
]

SDK = Path(__file__).resolve().parent.parent / "sdk" / "js"
SCENARIOS = sorted((SDK / "test" / "e2e").glob("*.test.js"))
NODE_TIMEOUT_SECONDS = 100


def uploads_of(user_id: int) -> list[dict]:
    """Every Attachment row the user uploaded, oldest first (this thread's database connection is closed after)."""
    from django.db import connection

    from messaging.models import Attachment

    try:
        rows = Attachment.objects.filter(uploader_id=user_id).order_by("pk")
        return [{"attachment_id": a.pk, "msg_id": a.message_id, "size": a.size, "name": a.name} for a in rows]
    finally:
        connection.close()


class Control(BaseHTTPRequestHandler):
    """The server side of a scenario: POST /close {user_id, code}, POST /resync {user_id},
    POST /daphne {env} (another daphne with these settings, for this test; answers {url}),
    POST /uploads {user_id} (answers {results: [{attachment_id, msg_id, size, name}]})."""

    server: "ControlServer"

    def _answer(self, body: dict) -> None:
        answer = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/daphne":
            started = self.server.start_daphne(**body["env"])
            self._answer({"url": f"http://{started.address}"})
            return
        if self.path == "/uploads":
            self._answer({"results": uploads_of(int(body["user_id"]))})
            return
        user_id = int(body["user_id"])
        if self.path == "/close":
            event = {"type": push.CLOSE_EVENT_TYPE, "code": int(body["code"]), "token": None}
            push.send([push.Out(push.user_group(user_id), event, [])])
        elif self.path == "/resync":
            push.send([push.to_user(user_id, [{"type": "resync"}])])
        else:
            self.send_error(404)
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


class ControlServer(ThreadingHTTPServer):
    start_daphne: Callable[..., Daphne]


@pytest.fixture
def control(start_daphne):
    server = ControlServer(("127.0.0.1", 0), Control)
    server.start_daphne = start_daphne
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def node_has_websocket() -> bool:
    """Node 22 has a global WebSocket; Node 18/20 need the `ws` package from sdk/js's npm ci."""
    check = subprocess.run(
        ["node", "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"], capture_output=True, check=False
    )
    return check.returncode == 0 or (SDK / "node_modules" / "ws").is_dir()


@pytest.mark.unit
def test_sdk_js_unit_tests():
    """sdk/js/test/unit under node --test: backoff, states, catch-up, dedupe, outbox, lists (no server)."""
    units = sorted(str(path) for path in (SDK / "test" / "unit").glob("*.test.js"))
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap", *units],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", output, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0" and int(counts.get("pass", 0)) > 20, output


@pytest.mark.unit
def test_the_readme_shows_the_example_that_is_run():
    """sdk/js/README.md's 30-line client is examples/chat.js, which example.test.js runs."""
    readme = (SDK / "README.md").read_text()
    assert (SDK / "examples" / "chat.js").read_text() in readme


def test_the_scenarios_are_there():
    assert SCENARIOS, "no scenario files in sdk/js/test/e2e"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[path.name.removesuffix(".test.js") for path in SCENARIOS])
def test_sdk_js_scenario(scenario, daphne, celery_worker, alice, bob, control):
    assert node_has_websocket(), (
        "this node has no WebSocket and sdk/js has no node_modules: run scripts/bootstrap.sh install"
    )
    env = {
        **os.environ,
        "CHAT_URL": f"http://{daphne.address}",
        "CHAT_CONTROL_URL": control,
        "ALICE_ID": str(alice.id),
        "ALICE_TOKEN": alice.token,
        "BOB_ID": str(bob.id),
        "BOB_TOKEN": bob.token,
    }
    try:
        result = subprocess.run(
            ["node", "--test", "--test-reporter=tap", str(scenario)],
            cwd=SDK,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as late:
        pytest.fail(f"node ran over {NODE_TIMEOUT_SECONDS} s:\n{late.stdout}\n{late.stderr}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = {name: int(n) for name, n in re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", output, re.M)}
    assert counts.get("fail") == 0 and counts.get("cancelled") == 0, output
    if counts.get("skipped"):
        reasons = re.findall(r"# SKIP (.*)$", output, re.M)
        assert not counts.get("pass"), f"a scenario file holds one test; this one passed some and skipped {reasons}"
        pytest.skip("; ".join(reasons))
    assert counts.get("pass", 0) >= 1, output


BROWSER_SCRIPT = """
const [token, peer, done] = arguments;
(async () => {
  const { ChatClient, IndexedDBStorage, ChatError } = await import("/static/sdk/index.js");
  const storage = new IndexedDBStorage("chat-sdk-test");
  await storage.set("probe", { n: 1 });
  const probe = await storage.get("probe");
  const client = new ChatClient({ baseUrl: "", token, storage });
  const states = [];
  client.on("state", (e) => states.push(e.state));
  client.connect();
  await client.ready(10000);
  const sent = await client.send(peer, "from a browser");
  await client.flush();
  const cursor = await storage.get("chat:cursor");
  const progress = [];
  let upload;
  let cancelled;
  let downloaded;
  try {
    upload = await client.upload(new Blob(["some bytes"]), { name: "a.txt", onProgress: (p) => progress.push(p) });
    downloaded = await (await client.download(upload)).text();
    const abort = new AbortController();
    abort.abort();
    cancelled = await client.upload(new Blob(["more"]), { signal: abort.signal }).catch((e) => e.name + " " + e.code);
  } catch (error) {
    upload = error instanceof ChatError ? error.code : String(error);
  }
  client.disconnect();
  done({ probe, states, sent, cursor, upload, progress, downloaded, cancelled, xhr: typeof XMLHttpRequest });
})().catch((error) => done({ failed: String(error && error.stack || error) }));
"""


def test_the_sdk_runs_in_a_browser(daphne, celery_worker, alice, bob):
    """Chromium imports the SDK from /static/sdk/: it connects, sends, keeps its cursor in IndexedDB, uploads
    (XMLHttpRequest, with progress), downloads and cancels an upload."""
    started: list = []
    try:
        driver = start_chromium(started)
        driver.set_script_timeout(30)
        driver.get(f"http://{daphne.address}/healthz")
        result = driver.execute_async_script(BROWSER_SCRIPT, alice.token, bob.id)
    finally:
        quit_all(started)
    assert "failed" not in result, result.get("failed")
    assert result["probe"] == {"n": 1}
    assert result["states"] == ["connecting", "connected", "disconnected"]
    assert result["sent"]["content"] == "from a browser" and result["sent"]["sender_id"] == alice.id
    assert isinstance(result["cursor"], int)
    assert result["xhr"] == "function"
    # Through XMLHttpRequest, with its upload progress; the download with the token; an aborted upload.
    assert result["upload"]["name"] == "a.txt" and result["downloaded"] == "some bytes"
    assert result["progress"] and result["progress"][-1]["loaded"] == result["progress"][-1]["total"]
    assert result["cancelled"] == "UploadCancelled cancelled"
