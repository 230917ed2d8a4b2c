"""`make cluster`: three hosts (network namespaces) behind haproxy, tested from outside.

The module runs `scripts/bootstrap.sh cluster`, then starts the whole
topology once with `scripts/cluster.py up` (as `make cluster` does), talks to it only as clients do (through haproxy, or
straight to one host's daphne to pin a socket to that host) and reads the
engines' own views of their members. Stopping it must leave no namespace,
bridge or data behind. It needs root (namespaces, veth pairs); without root
every test here is skipped and says so.

The app's side of the cluster contract (docs/deployment.md) is set with
CHAT_CLUSTER_APP: ``contract`` (the default) or ``single-redis`` (an app that
does not speak it yet: one plain Redis for data and channel layer).
"""

import ipaddress
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import MySQLdb
import pytest
from websockets.sync.client import connect

from .conftest import wait_for
from .live import ROOT, Socket, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster,
    # Start-up (about a minute on two cores) counts against the first test.
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="the cluster needs root (network namespaces, a bridge, veth pairs): run make test as root",
    ),
]

CLUSTER = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "cluster.py")]
# Names, addresses and directory of their own, beside a `make cluster` (chatc*, 10.231.7.0/25).
CLUSTER_ENV = {
    "CHAT_CLUSTER_DIR": os.environ.get("CHAT_TEST_CLUSTER_DIR", "/var/lib/chat-cluster-test"),
    "CHAT_CLUSTER_PREFIX": os.environ.get("CHAT_TEST_CLUSTER_PREFIX", "ctest"),
    "CHAT_CLUSTER_SUBNET": os.environ.get("CHAT_TEST_CLUSTER_SUBNET", "10.231.7.128/25"),
}
STATE_FILE = Path(CLUSTER_ENV["CHAT_CLUSTER_DIR"]) / "state.json"
PREFIX = CLUSTER_ENV["CHAT_CLUSTER_PREFIX"]
START_TIMEOUT = 300
STOP_TIMEOUT = 120
PASSWORD = "correct-horse-battery"


def our_namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)]


class Cluster:
    """`scripts/cluster.py up` in the background, and what its state file says."""

    def __init__(self) -> None:
        assert not our_namespaces(), f"namespaces {our_namespaces()} exist: is a make cluster running?"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / ".pytest-cluster.log"
        # Not the test run's environment (its databases and Redis prefixes): a clean one.
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "CHAT_RATE_LIMITS": "off",
            "CHAT_CLUSTER_APP": os.environ.get("CHAT_CLUSTER_APP", "contract"),
        }
        env.update(CLUSTER_ENV)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*CLUSTER, "up", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.env = env
        wait_for(self.ready, timeout=START_TIMEOUT, interval=0.5)
        self.state = json.loads(STATE_FILE.read_text())
        self.hosts = self.state["hosts"]  # name -> address

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"cluster.py up exited with {self.proc.returncode}:\n{self.log()[-5000:]}")
        return "Serving http://" in self.log()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(STOP_TIMEOUT)

    def host_url(self, index: int) -> str:
        """One host's daphne, bypassing haproxy (1-based)."""
        return f"http://{self.host_ip(index)}:8000"

    def host_ip(self, index: int) -> str:
        return self.hosts[f"{PREFIX}{index}"]

    def status(self) -> dict:
        out = subprocess.run(
            [*CLUSTER, "status", "--json"], env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(out.stdout)

    def exec(self, host: int, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLUSTER, "exec", str(host), "--", *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def db(self):
        """MariaDB through haproxy's single-writer frontend, as the app nodes reach it."""
        haproxy_ip = ipaddress.ip_network(self.state["subnet"]).network_address + 1
        return MySQLdb.connect(
            host=str(haproxy_ip), port=3306, user="chat", passwd=self.state["secrets"]["db"], db="chat", autocommit=True
        )


@pytest.fixture(scope="module")
def cluster():
    # What make cluster installs first (haproxy, galera-4, RabbitMQ, ...): make test's set-up does not.
    bootstrap = subprocess.run(["bash", "scripts/bootstrap.sh", "cluster"], cwd=ROOT, capture_output=True, text=True)
    assert bootstrap.returncode == 0, bootstrap.stdout + bootstrap.stderr
    started = time.monotonic()
    running = Cluster()
    print(f"cluster up in {time.monotonic() - started:.1f} s")  # noqa: T201 - the start-up figure, with -s
    try:
        yield running
    finally:
        running.stop()
        assert running.proc.returncode == 0, running.log()[-3000:]
        assert our_namespaces() == []
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
        assert f"{PREFIX}-" not in links
        assert not STATE_FILE.exists()


# --- clients -------------------------------------------------------------------------


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class User:
    def __init__(self, base: str, user_id: int, token: str, username: str) -> None:
        self.base, self.id, self.token, self.username = base, user_id, token, username

    def call(self, method: str, path: str, body: dict | None = None, base: str | None = None) -> dict:
        status, answer = http(method, f"{base or self.base}/api/v1/{path}", body, self.token)
        assert status in (200, 201), (status, answer)
        return answer

    def send(self, to: "User", content: str = "hi", base: str | None = None) -> dict:
        return self.call("POST", "messages", {"to": to.id, "content": content, "client_msg_id": uuid.uuid4().hex}, base)

    def socket(self, base: str) -> Socket:
        url = base.replace("http://", "ws://") + f"/ws/chat/?token={self.token}"
        sock = Socket(connect(url, open_timeout=15, max_size=None))
        sock.expect("ready")
        return sock


def new_user(cluster: Cluster, name: str) -> User:
    username = f"{name}{uuid.uuid4().hex[:8]}"
    status, body = http("POST", f"{cluster.url}/api/v1/auth/register", {"username": username, "password": PASSWORD})
    assert status == 201, body
    return User(cluster.url, body["user_id"], body["token"], username)


def recount(cluster: Cluster, user: User) -> dict[str, int]:
    """Unread per conversation from the message rows themselves."""
    connection = cluster.db()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT sessionId, COUNT(*) FROM t_msg_record_list WHERE recipient_id = %s AND isRead = 0 "
            "GROUP BY sessionId",
            [user.id],
        )
        return {str(cid): n for cid, n in cursor.fetchall() if n}
    finally:
        connection.close()


def sync_all(user: User, base: str | None = None) -> list[dict]:
    seen: dict[int, dict] = {}
    since = 0
    while True:
        page = user.call("GET", f"sync?since={since}&limit=1000", base=base)
        for message in page["results"]:
            seen[message["msg_id"]] = message
        if not page["has_more"]:
            return [seen[k] for k in sorted(seen)]
        if page["next_since"] == since:
            time.sleep(1)
        since = page["next_since"]


# --- the engines -------------------------------------------------------------------


def test_every_engine_has_all_its_members(cluster):
    status = cluster.status()
    assert all(p["alive"] for p in status["processes"].values()), status["processes"]
    for name, galera in status["galera"].items():
        assert galera["wsrep_cluster_size"] == "3", (name, galera)
        assert galera["wsrep_local_state_comment"] == "Synced", (name, galera)
        assert galera["wsrep_cluster_status"] == "Primary", (name, galera)
    nodes = [line.split() for line in status["redis_cluster_nodes"].strip().splitlines()]
    assert len(nodes) == 6
    masters = {n[0]: n[1].split(":")[0] for n in nodes if "master" in n[2]}
    replicas = [(n[1].split(":")[0], n[3]) for n in nodes if "slave" in n[2]]
    assert len(masters) == 3 and len(replicas) == 3
    assert len(set(masters.values())) == 3, "one master per host"
    for replica_ip, master_id in replicas:
        assert masters[master_id] != replica_ip, "each master's replica lives on another host"
    assert all("connected" in n for n in nodes)
    for name, masters_seen in status["sentinel_masters"].items():
        assert sorted(m["name"] for m in masters_seen) == ["layer0", "layer1", "layer2"], name
        for master in masters_seen:
            assert master["flags"] == "master" and master["num-slaves"] == 1, (name, master)
            assert master["num-other-sentinels"] == 2, (name, master)
    rabbit = status["rabbitmq"]
    rabbit_nodes = [f"rabbit@{PREFIX}{i}" for i in (1, 2, 3)]
    assert sorted(rabbit["running_nodes"]) == rabbit_nodes, rabbit
    # Celery's queues are quorum queues replicated on every node (once the workers declared them).
    queues = {q["name"]: q for q in status["rabbitmq_queues"]}
    for name in ("realtime", "delayed", "retry"):
        assert queues[name]["type"] == "quorum", queues
        assert sorted(queues[name]["members"]) == rabbit_nodes, queues[name]
    servers = {(s["pxname"], s["svname"]): s for s in status["haproxy"]}
    for index in (1, 2, 3):
        assert servers[("app", f"{PREFIX}{index}")]["status"] == "UP"
        assert servers[("mysql", f"{PREFIX}{index}")]["status"] == "UP"


def test_health_and_rest_through_haproxy(cluster):
    status, body = http("GET", f"{cluster.url}/healthz")
    assert status == 200 and body["status"] == "ok"
    status, alice = http(
        "POST", f"{cluster.url}/api/v1/auth/token", {"username": "alice", "password": "chat-demo-pass"}
    )
    assert status == 200, alice
    status, bob = http("POST", f"{cluster.url}/api/v1/auth/token", {"username": "bob", "password": "chat-demo-pass"})
    assert status == 200, bob
    status, message = http(
        "POST", f"{cluster.url}/api/v1/messages", {"to": bob["user_id"], "content": "hi"}, alice["token"]
    )
    assert status == 201, message
    assert message["content"] == "hi"
    # Every host's daphne answers, and haproxy spreads requests over them.
    for index in (1, 2, 3):
        assert http("GET", f"{cluster.host_url(index)}/healthz")[0] == 200


def test_websocket_through_haproxy(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    sock = bob.socket(cluster.url)
    try:
        sent = alice.send(bob, "through haproxy")
        assert sock.expect("message")["message"]["msg_id"] == sent["msg_id"]
    finally:
        sock.close()


# --- across hosts ----------------------------------------------------------------------


def test_users_on_different_hosts_exchange_messages_receipts_typing_and_presence(cluster):
    alice, bob, carol = (new_user(cluster, n) for n in ("alice", "bob", "carol"))
    on1, on2 = alice.socket(cluster.host_url(1)), bob.socket(cluster.host_url(2))
    try:
        on1.send({"type": "send", "to": bob.id, "content": "from host 1", "client_msg_id": "c1"})
        message = on1.expect("ack", client_msg_id="c1")["message"]
        assert on2.expect("message")["message"]["msg_id"] == message["msg_id"]
        on2.expect("unread", conversation_id=message["conversation_id"], unread=1)
        on2.send({"type": "read", "conversation_id": message["conversation_id"], "up_to": message["msg_id"]})
        receipt = on1.expect("read", conversation_id=message["conversation_id"])
        assert receipt["reader_id"] == bob.id and receipt["up_to"] == message["msg_id"]
        on2.send({"type": "typing", "conversation_id": message["conversation_id"]})
        assert on1.expect("typing", conversation_id=message["conversation_id"])["user_id"] == bob.id
        # Presence: alice (host 1) watches carol, who comes and goes on host 3.
        on1.send({"type": "watch", "user_ids": [carol.id]})
        assert on1.expect("presence", user_id=carol.id)["online"] is False
        on3 = carol.socket(cluster.host_url(3))
        assert on1.expect("presence", user_id=carol.id, online=True)["last_seen"] is None
        on3.close()
        assert on1.expect("presence", user_id=carol.id, online=False, timeout=20)["last_seen"]
    finally:
        on1.close()
        on2.close()


def test_a_user_with_sockets_on_two_hosts_gets_every_event_on_both(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    sender = alice.socket(cluster.host_url(1))
    on2, on3 = bob.socket(cluster.host_url(2)), bob.socket(cluster.host_url(3))
    try:
        sent = [alice.send(bob, f"m{i}", base=cluster.host_url(1 + i % 3)) for i in range(6)]
        conversation = sent[0]["conversation_id"]
        for sock in (on2, on3):
            got = [sock.expect("message", timeout=15)["message"]["msg_id"] for _ in sent]
            assert sorted(got) == sorted(m["msg_id"] for m in sent)
            sock.expect("unread", conversation_id=conversation, unread=6, timeout=15)
        # A read on one of bob's hosts reaches his other socket and alice.
        on2.send({"type": "read", "conversation_id": conversation})
        on3.expect("unread", conversation_id=conversation, unread=0)
        sender.expect("read", conversation_id=conversation, reader_id=bob.id)
    finally:
        for sock in (sender, on2, on3):
            sock.close()


def test_sync_is_gap_free_across_hosts(cluster):
    """Senders on all three hosts at once while bob follows his cursor through rotating hosts:
    the cursor never passes a message that becomes visible later."""
    import threading

    bob = new_user(cluster, "bob")
    senders = [new_user(cluster, f"s{i}") for i in range(3)]
    sent: list[int] = []
    lock = threading.Lock()

    def send_from(index: int, sender: User) -> None:
        for i in range(15):
            msg_id = sender.send(bob, f"m{i}", base=cluster.host_url(index))["msg_id"]
            with lock:
                sent.append(msg_id)

    threads = [threading.Thread(target=send_from, args=(i, s)) for i, s in enumerate(senders, start=1)]
    for thread in threads:
        thread.start()
    seen: set[int] = set()
    since, turn, settled = 0, 0, None
    # Following the cursor only; after the last send, well past the accept deadline (5 s).
    while settled is None or time.monotonic() < settled:
        turn += 1
        page = bob.call("GET", f"sync?since={since}&limit=1000", base=cluster.host_url(1 + turn % 3))
        seen.update(m["msg_id"] for m in page["results"])
        since = page["next_since"]
        if settled is None and not any(t.is_alive() for t in threads):
            settled = time.monotonic() + 15
        if settled is not None and set(sent) <= seen:
            break
        if not page["has_more"]:
            time.sleep(0.2)
    for thread in threads:
        thread.join()
    assert len(sent) == 45
    assert seen == set(sent), sorted(set(sent) - seen)
    for index in (1, 2, 3):
        assert [m["msg_id"] for m in sync_all(bob, base=cluster.host_url(index))] == sorted(sent)


def test_unread_counts_equal_the_database_after_a_burst_over_all_hosts(cluster):
    receivers = [new_user(cluster, f"r{i}") for i in range(3)]
    senders = [new_user(cluster, f"s{i}") for i in range(3)]
    import threading

    def burst(index: int, sender: User) -> None:
        for round_ in range(8):
            for receiver in receivers:
                sender.send(receiver, f"burst {round_}", base=cluster.host_url(index))

    # The three senders at once, each through another host.
    threads = [threading.Thread(target=burst, args=(i, s)) for i, s in enumerate(senders, start=1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    some = receivers[0]
    conversation = some.call("GET", "conversations")["results"][0]["conversation_id"]
    some.call("POST", f"conversations/{conversation}/read", {}, base=cluster.host_url(2))

    def matches() -> bool:
        return all(r.call("GET", "unread")["conversations"] == recount(cluster, r) for r in receivers)

    wait_for(matches, timeout=20, interval=0.5)
    for receiver in receivers:
        truth = recount(cluster, receiver)
        assert receiver.call("GET", "unread") == {"total": sum(truth.values()), "conversations": truth}
    # Every send of the burst went through (a failed one would be missing on both sides).
    assert [sum(recount(cluster, r).values()) for r in receivers[1:]] == [24, 24]


def test_rebuild_redis_works_on_the_cluster(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    for i in range(3):
        alice.send(bob, f"before rebuild {i}", base=cluster.host_url(1 + i))
    before = bob.call("GET", "unread")
    done = cluster.exec(2, str(ROOT / ".venv" / "bin" / "python"), "manage.py", "rebuild_redis")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rebuilt" in done.stdout
    assert (
        bob.call("GET", "unread")
        == before
        == {
            "total": 3,
            "conversations": recount(cluster, bob),
        }
    )
    assert [c["conversation_id"] for c in bob.call("GET", "conversations")["results"]] == [
        int(k) for k in before["conversations"]
    ]


def test_a_small_bench_run_against_the_cluster_loses_and_duplicates_nothing(cluster, tmp_path):
    """`make bench` with BENCH_TARGET=cluster (scripts/bench/cluster.py), attached to this module's
    cluster rather than starting one of its own (that costs a minute): 2 pairs, 5 messages each."""
    out = tmp_path / "bench-result.json"
    env = {
        **cluster.env,
        "BENCH_TARGET": "cluster",
        "BENCH_CLUSTER_ATTACH": "1",
        "BENCH_CLUSTER_DIR": CLUSTER_ENV["CHAT_CLUSTER_DIR"],
        "BENCH_CLUSTER_PREFIX": PREFIX,
        "BENCH_CLUSTER_SUBNET": CLUSTER_ENV["CHAT_CLUSTER_SUBNET"],
        "BENCH_PAIRS": "2",
        "BENCH_MESSAGES": "5",
        "BENCH_SKIP": "rest,footprint,idle,relay",
        "BENCH_OUT": str(out),
        "BENCH_LOG_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "scripts.bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    product = report["product"]
    assert (product["sent"], product["acked"], product["delivered"], product["stored"]) == (10, 10, 10, 10)
    assert (product["lost"], product["duplicated"], product["errors"]) == (0, 0, 0)
    assert product["realtime_queue_max_depth"] is not None
    assert sum(product["sockets_per_host"].values()) >= 4
    assert product["processes"]["daphne"] == 3
    assert {"galera", "rabbitmq", "redis-cluster", "redis-layer", "haproxy", "generator"} <= product["processes"].keys()
    assert report["cluster"]["attached"] is True
    # The bench left the cluster running: later tests use it.
    assert cluster.proc.poll() is None and our_namespaces()


def haproxy(command: str) -> str:
    """One command on haproxy's runtime socket (what `socat stdio SOCKET` does)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(STATE_FILE.parent / "haproxy" / "haproxy.sock"))
        client.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def sessions_per_server() -> dict[str, int]:
    lines = haproxy("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {row["svname"]: int(row["stot"]) for row in rows if row["pxname"] == "app" and row["svname"] != "BACKEND"}


def test_draining_a_node_haproxy_then_the_app_closes_its_sockets(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    pinned = bob.socket(cluster.host_url(1))
    drained = f"{PREFIX}1"
    assert haproxy(f"set server app/{drained} state drain").strip() == ""
    try:
        before = sessions_per_server()
        for _ in range(12):
            assert http("GET", f"{cluster.url}/healthz")[0] == 200
        after = sessions_per_server()
        assert after[drained] == before[drained], (before, after)
        assert sum(after.values()) - sum(before.values()) >= 12
        # The drained host's open socket still gets its events.
        sent = alice.send(bob, "still here")
        assert pinned.expect("message")["message"]["msg_id"] == sent["msg_id"]
        # Then the app closes that host's sockets (1012); the client reconnects through haproxy,
        # which sends it to another host, and catches up with sync.
        python = str(ROOT / ".venv" / "bin" / "python")
        done = cluster.exec(1, python, "manage.py", "drain_sockets", "--batch", "10", "--interval", "0.2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert pinned.close_code(timeout=15) == 1012
        before = sessions_per_server()
        again = bob.socket(cluster.url)
        missed = alice.send(bob, "while reconnecting")
        assert again.expect("message")["message"]["msg_id"] == missed["msg_id"]
        assert sessions_per_server()[drained] == before[drained]
        again.close()
    finally:
        cluster.exec(1, str(ROOT / ".venv" / "bin" / "python"), "manage.py", "drain_sockets", "--cancel")
        haproxy(f"set server app/{drained} state ready")
        pinned.close()


def test_an_avatar_uploaded_on_one_host_is_served_by_the_others(cluster):
    import io

    import requests
    from PIL import Image

    alice = new_user(cluster, "alice")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, "PNG")
    response = requests.post(
        f"{cluster.host_url(1)}/api/v1/me/avatar",
        files={"avatar": ("me.png", buffer.getvalue(), "image/png")},
        headers={"Authorization": f"Token {alice.token}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    for index in (2, 3):
        served = requests.get(f"{cluster.host_url(index)}{url}", timeout=20)
        assert served.status_code == 200, (index, url)
        assert Image.open(io.BytesIO(served.content)).format == "PNG"


def test_beat_runs_on_every_host_and_fires_on_one(cluster):
    """Every host's delayed worker runs beat; the lease lets one of them send the schedule."""
    logs = STATE_FILE.parent / "logs"

    def firing_hosts() -> set[int]:
        return {i for i in (1, 2, 3) if "Sending due task" in (logs / f"app-{PREFIX}{i}.log").read_text()}

    wait_for(firing_hosts, timeout=30, interval=1)
    time.sleep(12)  # two more sweep intervals (5 s)
    assert len(firing_hosts()) == 1
    for index in (1, 2, 3):
        assert "beat: Starting..." in (logs / f"app-{PREFIX}{index}.log").read_text()


# --- failover (last: each leaves a dead server behind) --------------------------------------


def kill(cluster: Cluster, name: str) -> None:
    """SIGKILL one recorded process and its children (its own process group), as a crash would."""
    os.killpg(json.loads(STATE_FILE.read_text())["processes"][name]["pid"], signal.SIGKILL)


def eventually_send(sender: User, to: User, content: str, base: str | None = None, timeout: float = 40) -> dict:
    """A send that succeeds once the cluster has recovered (every failed attempt retried, same client_msg_id)."""
    body = {"to": to.id, "content": content, "client_msg_id": uuid.uuid4().hex}
    deadline = time.monotonic() + timeout
    while True:
        status, answer = http("POST", f"{base or sender.base}/api/v1/messages", body, sender.token)
        if status in (200, 201):
            return answer
        assert time.monotonic() < deadline, (status, answer)
        time.sleep(0.5)


def reconnecting_socket(user: User, base: str, timeout: float = 30) -> Socket:
    """A socket that answers a ping, reconnecting (as clients do) while the server closes it."""
    from websockets.exceptions import ConnectionClosed

    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = user.socket(base)
            sock.send({"type": "ping"})
            sock.expect("pong")
            return sock
        except (ConnectionClosed, OSError, AssertionError):
            assert time.monotonic() < deadline, "no socket stayed open"
            time.sleep(1)


def test_channel_layer_master_failover(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    kill(cluster, f"layer-{PREFIX}1-6379")

    def promoted() -> bool:
        views = cluster.status()["sentinel_masters"].values()
        layer0 = [next(m for m in masters if m["name"] == "layer0") for masters in views]
        return all(m["ip"] == cluster.host_ip(3) for m in layer0)

    wait_for(promoted, timeout=40, interval=1)
    # New sockets on two hosts exchange messages over the promoted replica (a socket refused
    # while a process still looks for the new master is reconnected, as a client would).
    on1, on2 = reconnecting_socket(alice, cluster.host_url(1)), reconnecting_socket(bob, cluster.host_url(2))
    try:
        sent = eventually_send(alice, bob, "after the layer failover")
        assert on2.expect("message", timeout=20)["message"]["msg_id"] == sent["msg_id"]
    finally:
        on1.close()
        on2.close()


def test_redis_cluster_master_failover(cluster):
    senders = [new_user(cluster, f"s{i}") for i in range(3)]
    receivers = [new_user(cluster, f"r{i}") for i in range(6)]
    kill(cluster, f"redis-{PREFIX}1-7000")

    def promoted() -> bool:
        nodes = cluster.status()["redis_cluster_nodes"]
        return any(f"{cluster.host_ip(3)}:7001" in line and "master" in line for line in nodes.splitlines())

    wait_for(promoted, timeout=40, interval=1)
    for index, sender in enumerate(senders, start=1):
        for receiver in receivers:
            eventually_send(sender, receiver, "after the Redis failover", base=cluster.host_url(index))
    for receiver in receivers:
        wait_for(lambda r=receiver: r.call("GET", "unread")["conversations"] == recount(cluster, r), timeout=20)


def test_galera_writer_failover(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    kill(cluster, f"galera-{PREFIX}1")

    def moved() -> bool:
        servers = {(s["pxname"], s["svname"]): s["status"] for s in cluster.status()["haproxy"]}
        return servers[("mysql", f"{PREFIX}1")].startswith("DOWN")

    wait_for(moved, timeout=40, interval=1)
    sent = [eventually_send(alice, bob, f"after the writer failover {i}", base=cluster.host_url(i)) for i in (1, 2, 3)]
    assert [m["msg_id"] for m in sync_all(bob)] == sorted(m["msg_id"] for m in sent)
    galera = cluster.status()["galera"]
    for index in (2, 3):
        assert galera[f"{PREFIX}{index}"]["wsrep_cluster_size"] == "2"
        assert galera[f"{PREFIX}{index}"]["wsrep_cluster_status"] == "Primary"


def test_rabbitmq_node_failure(cluster):
    alice, bob = new_user(cluster, "alice"), new_user(cluster, "bob")
    kill(cluster, f"rabbitmq-{PREFIX}1")

    def failed_over() -> bool:
        status = cluster.status()
        queues = {q["name"]: q for q in status["rabbitmq_queues"]}
        return len(status["rabbitmq"]["running_nodes"]) == 2 and all(
            queues[name]["leader"] != f"rabbit@{PREFIX}1" for name in ("realtime", "delayed", "retry")
        )

    wait_for(failed_over, timeout=60, interval=2)
    on3 = bob.socket(cluster.host_url(3))
    try:
        sent = [
            eventually_send(alice, bob, f"after the broker failover {i}", base=cluster.host_url(i)) for i in (1, 2, 3)
        ]
        got = {on3.expect("message", timeout=30)["message"]["msg_id"] for _ in sent}
        assert got == {m["msg_id"] for m in sent}
        # The fan-out (Celery, through the remaining nodes) brought Redis' unread copy to the truth.
        wait_for(lambda: bob.call("GET", "unread")["conversations"] == recount(cluster, bob), timeout=30)
    finally:
        on3.close()
