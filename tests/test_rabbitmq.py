"""Celery on RabbitMQ: quorum queues, publisher confirms, countdowns through native delayed delivery.

Against the RabbitMQ on 127.0.0.1:5672, in a vhost and with a user of this
test's own (made with rabbitmqctl, deleted afterwards). A real daphne sends
through the committer, which enqueues fan-out on RabbitMQ; a real worker
process consumes it. CELERY_BROKER_URL is a failover list whose second
broker does not answer.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from chat_project.common.redis_client import get_redis
from messaging import accept, store
from messaging.models import MessageRecord

from .conftest import wait_for
from .live import ROOT, FreezingProxy, free_port

pytestmark = pytest.mark.e2e

QUEUES = ("realtime", "delayed", "retry")


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def broker_url():
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmq-server is not installed")
    name = f"chat-test-{os.getpid()}"
    password = secrets.token_hex(12)
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("add_user", name, password)
        rabbitmqctl("set_permissions", "-p", name, name, ".*", ".*", ".*")
        dead = free_port()
        yield name, f"amqp://{name}:{password}@127.0.0.1:5672/{name};amqp://{name}:{password}@127.0.0.1:{dead}/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, timeout=60)
        subprocess.run(["rabbitmqctl", "delete_user", name], capture_output=True, timeout=60)


def queue_types(vhost: str) -> dict[str, str]:
    lines = rabbitmqctl("list_queues", "-q", "-p", vhost, "--formatter", "json", "name", "type")
    return {q["name"]: q["type"] for q in json.loads(lines)}


def process_env(broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings_test",
        "CHAT_DB_NAME": settings.DATABASES["default"]["NAME"],
        "CHAT_REDIS_URL": settings.CHAT_REDIS_URL,
        "CHAT_CHANNEL_LAYER_URL": settings.CHAT_CHANNEL_LAYER_URL,
        "CELERY_BROKER_URL": broker,
    }


@contextmanager
def worker_process(url: str, **extra_env: str):
    """A real worker process on the three queues; yields its log, read at will."""
    log = Path(ROOT / f".pytest-rabbit-worker-{os.getpid()}-{secrets.token_hex(3)}.log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chat_project", "worker", "-Q", ",".join(QUEUES),
             "-n", f"rabbit-test-{os.getpid()}@%h", "--pool", "solo", "--loglevel", "INFO"],
            # Celery's task lines ("Received task … ETA:", "retry: Retry in 2s") are what these tests read.
            cwd=ROOT, env={**process_env(url), "CHAT_TASK_LOG_LEVEL": "INFO", **extra_env},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "ready." in log.read_text() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, log.read_text()
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.unlink(missing_ok=True)


@pytest.fixture
def rabbit_worker(broker_url):
    with worker_process(broker_url[1]) as log:
        yield log


def publish(url: str, call: str) -> None:
    """Publish a task from another process configured for RabbitMQ."""
    code = f"import django; django.setup(); from messaging.tasks import fan_out_batch; {call}"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=process_env(url), check=True, timeout=60)


def rest_send(server, user, to, content: str, client_msg_id: str) -> dict:
    body = json.dumps({"to": to.id, "content": content, "client_msg_id": client_msg_id}).encode()
    request = urllib.request.Request(
        f"http://{server.address}/api/v1/messages",
        data=body,
        headers={"Authorization": f"Token {user.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_fan_out_runs_on_quorum_queues_and_a_countdown_is_delivered(broker_url, start_daphne, alice, bob, request):
    vhost, url = broker_url
    server = start_daphne(CELERY_BROKER_URL=url)
    bob_socket = server.socket(bob.token)
    bob_socket.expect("ready")

    # Sent before any worker runs: the fan-out waits in the realtime queue, declared quorum.
    first = rest_send(server, alice, bob, "via rabbit", "r-1")
    types = queue_types(vhost)
    assert types["realtime"] == "quorum", types

    log = request.getfixturevalue("rabbit_worker")
    assert bob_socket.expect("message", timeout=20)["message"]["msg_id"] == first["msg_id"]
    types = queue_types(vhost)
    assert all(types[q] == "quorum" for q in QUEUES), types
    # Native delayed delivery's levels are quorum queues too.
    assert any(name.startswith("celery_delayed_") and kind == "quorum" for name, kind in types.items()), types
    # Quorum queues take no global QoS: the worker noticed them and switched it off.
    assert "Global QoS is disabled" in log.read_text()

    # A retry's publish (queue retry, countdown) through the delayed exchanges: undo the
    # message's fan-out, then have it retried in 3 s by another process.
    MessageRecord.objects.filter(msg_id=first["msg_id"]).update(fan_out_done=False)
    get_redis().delete(store.pushed_key(first["msg_id"]))
    started = time.monotonic()
    publish(url, f"fan_out_batch.apply_async(([{first['msg_id']}], False), queue='retry', countdown=3)")
    again = bob_socket.expect("message", timeout=30)
    waited = time.monotonic() - started
    assert again["message"]["msg_id"] == first["msg_id"]
    assert waited >= 2.5, f"delivered after {waited:.1f} s, before its countdown"
    wait_for(lambda: MessageRecord.objects.get(msg_id=first["msg_id"]).fan_out_done)
    # The broker held it (native delayed delivery), not the worker: no task arrived with an ETA.
    assert "ETA:" not in log.read_text()
    bob_socket.close()


def test_a_failed_fan_out_is_retried_with_back_off_through_the_retry_queue(broker_url, make_user, tmp_path):
    """The worker's channel layer is down: the task fails and retries (queue retry, countdown 1, 2, …)
    until a Redis answers on that port; then it completes."""
    _, url = broker_url
    alice, bob = make_user("alice"), make_user("bob")
    [result] = accept.accept_batch([accept.SendRequest(alice.id, bob.id, "retried", "retried-1")])
    msg_id = result.message["msg_id"]
    port = free_port()
    with worker_process(url, CHAT_CHANNEL_LAYER_URL=f"redis://127.0.0.1:{port}/0") as log:
        publish(url, f"fan_out_batch.delay([{msg_id}], False)")
        wait_for(lambda: log.read_text().count("retry: Retry in") >= 2, timeout=30)
        assert not MessageRecord.objects.get(msg_id=msg_id).fan_out_done
        layer = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(lambda: MessageRecord.objects.get(msg_id=msg_id).fan_out_done, timeout=60)
        finally:
            layer.kill()
            layer.wait(10)
        text = log.read_text()
    assert "Retry in 1s" in text and "Retry in 2s" in text
    assert "ETA:" not in text  # held by RabbitMQ's delayed queues, not by the worker


def test_the_queue_depth_is_read_by_a_passive_declare_through_the_failover_list(broker_url):
    from kombu import Connection, Exchange, Producer, Queue

    from chat_project.common.queue_depth import QueueDepth

    _, url = broker_url
    dead_first = ";".join(reversed(url.split(";")))  # the first broker of the list does not answer
    reader = QueueDepth(dead_first, "depth-probe")
    queue = Queue("depth-probe", Exchange("depth-probe", type="direct"), routing_key="depth-probe",
                  queue_arguments={"x-queue-type": "quorum"})  # fmt: skip
    try:
        assert reader.read() == 0  # not declared yet: the broker answers 404, which is an empty queue
        with Connection(url.split(";")[0]) as connection:
            producer = Producer(connection.default_channel)
            for n in range(3):
                producer.publish({"n": n}, exchange=queue.exchange, routing_key="depth-probe", declare=[queue])
            wait_for(lambda: reader.read() == 3, timeout=10)  # the same connection, after its channel was closed
            queue.bind(connection.default_channel).get(no_ack=True)  # a basic.get: one task taken
            wait_for(lambda: reader.read() == 2, timeout=10)
            queue.bind(connection.default_channel).delete()
    finally:
        reader.close()


def overloaded(gate) -> bool:
    from messaging.admission import Overloaded

    try:
        gate.check()
    except Overloaded:
        return True
    return False


@pytest.mark.timeout(120)
def test_a_broker_that_stops_answering_neither_holds_the_depth_read_nor_keeps_sends_refused(broker_url, settings):
    from kombu import Connection, Exchange, Queue

    from chat_project.common.queue_depth import QueueDepth
    from messaging import admission

    _, url = broker_url
    proxy = FreezingProxy(("127.0.0.1", 5672))
    frozen_url = url.split(";")[0].replace("@127.0.0.1:5672/", f"@127.0.0.1:{proxy.port}/")
    queue = Queue("depth-frozen", Exchange("depth-frozen", type="direct"), routing_key="depth-frozen")
    reader = QueueDepth(frozen_url, "depth-frozen", timeout=0.5)
    stuck = QueueDepth(frozen_url, "depth-frozen", timeout=30)
    with Connection(url.split(";")[0]) as connection:
        queue.bind(connection.default_channel).declare()
        try:
            # Both connected through the proxy, handshake done, the queue there: their connections stay open.
            assert reader.read() == 0 and stuck.read() == 0
            proxy.frozen.set()
            started = time.monotonic()
            with pytest.raises(TimeoutError):  # the socket timeout
                reader.read()
            assert time.monotonic() - started < 3  # before: no read timeout, it waited as long as the socket stayed

            # A poll stuck in a read leaves its last "behind" standing; past a second it no longer refuses.
            settings.CHAT_FAN_OUT_LAG_MAX_MS = 1000
            settings.CHAT_ADMISSION_POLL_MS = 50
            gate = admission.Admission()
            gate._pid = os.getpid()  # no polling thread of its own: the one below stands in for it
            gate._depth = stuck
            gate.behind, gate.polled_at = True, time.monotonic()
            polling = threading.Thread(target=gate.poll, daemon=True)
            polling.start()
            time.sleep(0.3)
            assert polling.is_alive() and overloaded(gate)  # stuck in the read, its verdict still fresh
            wait_for(lambda: not overloaded(gate), timeout=3)
            assert polling.is_alive() and gate.behind  # still stuck: the stale verdict no longer counts
        finally:
            proxy.close()
            reader.close()
            stuck.close()
            queue.bind(connection.default_channel).delete()


@pytest.mark.timeout(120)
def test_sends_are_refused_while_rabbitmq_holds_more_fan_out_tasks_than_the_bound(
    broker_url, start_daphne, alice, bob, request
):
    """The cluster's broker: its realtime queue's depth bounds the sends as the single machine's Redis does."""
    _, url = broker_url
    server = start_daphne(
        CELERY_BROKER_URL=url, CHAT_FAN_OUT_LAG_MAX_MS="300", CHAT_FAN_OUT_QUEUE_MAX="1", CHAT_ADMISSION_POLL_MS="50"
    )
    for i in range(2):  # no worker runs: each fan-out task waits in the realtime queue
        rest_send(server, alice, bob, "queued", f"rq-queued-{i}")
    attempts = iter(range(1000))

    def refused() -> dict | None:
        client_msg_id = f"rq-probe-{next(attempts)}"
        try:
            rest_send(server, alice, bob, "probe", client_msg_id)
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
            return {"status": error.code, "retry_after": error.headers["Retry-After"], "id": client_msg_id, **body}
        return None

    answer = wait_for(refused, timeout=15)
    assert answer["status"] == 503 and answer["code"] == "unavailable" and answer["retry_after"] == "1"
    assert not MessageRecord.objects.filter(client_msg_id=answer["id"]).exists()

    request.getfixturevalue("rabbit_worker")  # the workers are back: the queue drains and sends are taken

    def taken() -> dict | None:
        try:
            return rest_send(server, alice, bob, "after", "rq-after")
        except urllib.error.HTTPError as error:
            if error.code != 503:  # refused while the queue drains; anything else is a failure
                raise
            return None

    sent = wait_for(taken, timeout=60)
    assert sent["content"] == "after"
    assert MessageRecord.objects.filter(client_msg_id="rq-after").count() == 1
