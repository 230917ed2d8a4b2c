"""A tiny run of the benchmark (`make bench`, scripts/bench/): it works, and it counts right.

Only the correctness figures are asserted (nothing lost, nothing duplicated,
every key of the report there); its timings depend on the machine.
"""

import json
import os
import subprocess
import sys

import MySQLdb
import pytest
import redis
from django.conf import settings

from .live import ROOT

pytestmark = pytest.mark.e2e

PAIRS, MESSAGES = 2, 5
LOAD_KEYS = {
    "sent",
    "acked",
    "errors",
    "delivered",
    "lost",
    "duplicated",
    "delivered_per_s",
    "ack_ms",
    "deliver_ms",
    "cpu_seconds",
    "cpu_s_per_1000_delivered",
    "processes",
}
PERCENTILES = {"p50", "p90", "p99", "max"}
# The overload phase: 3 x a capacity of 20 msgs/s (given: the tiny load is too short to measure one) for 2 s.
OVERLOAD_CAPACITY, OVERLOAD_SECONDS, PROBE_MESSAGES = 20, 2, 5
OVERLOAD_KEYS = {
    "capacity_per_s",
    "capacity_source",
    "offered_per_s",
    "sent_per_s",
    "seconds",
    "sent",
    "acked",
    "refused",
    "refused_codes",
    "refused_without_retry_after",
    "refused_but_delivered",
    "errors_other",
    "errors_other_codes",
    "unanswered",
    "delivered",
    "goodput_per_s",
    "goodput_ratio",
    "ack_ms",
    "refusal_ms",
    "deliver_ms",
    "lost",
    "lost_stored_not_pushed",
    "lost_not_stored",
    "stored",
    "duplicated",
    "drained_after_s",
    "memory",
    "realtime_queue_max_depth",
    "recovery",
    "cpu_seconds",
    "cpu_s_per_1000_delivered",
    "processes",
}
RECOVERY_KEYS = {"sent", "acked", "delivered", "errors", "started_after_s", "first_acked_and_delivered_after_s"}


def drop_bench_data(db_name: str, prefix: str) -> None:
    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
    conn.close()
    for url, pattern in (
        (settings.CHAT_REDIS_URL, f"{prefix}:*"),
        (settings.CELERY_BROKER_URL, f"{prefix}:*"),
        (settings.CHAT_CHANNEL_LAYER_URL, f"asgi-{prefix}*"),
    ):
        client = redis.Redis.from_url(url)
        names = list(client.scan_iter(match=pattern, count=1000))
        if names:
            client.delete(*names)
        client.close()


@pytest.mark.timeout(600)
def test_a_small_bench_run_loses_and_duplicates_nothing(tmp_path):
    run = os.environ.get("CHAT_TEST_RUN", str(os.getpid()))
    db_name, prefix = f"test_chat_bench_{run}", f"test{run}bench"
    out = tmp_path / "bench-result.json"
    env = {
        **os.environ,
        "BENCH_PAIRS": str(PAIRS),
        "BENCH_MESSAGES": str(MESSAGES),
        "BENCH_WINDOW": "2",
        "BENCH_IDLE_SOCKETS": "20",
        "BENCH_IDLE_PER_ADDRESS": "15",
        "BENCH_IDLE_WINDOW": "2",
        "BENCH_IDLE_DELIVERIES": "3",
        "BENCH_CONVERSATIONS": "5",
        "BENCH_REST_CALLS": "5",
        "BENCH_OVERLOAD_CAPACITY": str(OVERLOAD_CAPACITY),
        "BENCH_OVERLOAD_SECONDS": str(OVERLOAD_SECONDS),
        "BENCH_OVERLOAD_PROBE_MESSAGES": str(PROBE_MESSAGES),
        "BENCH_OUT": str(out),
        "BENCH_LOG_DIR": str(tmp_path),
        "BENCH_DB_NAME": db_name,
        "BENCH_PREFIX": prefix,
        # The test's Redis databases (settings_test), its own prefixes above.
        "CHAT_REDIS_URL": settings.CHAT_REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CHAT_CHANNEL_LAYER_URL": settings.CHAT_CHANNEL_LAYER_URL,
        "CHAT_WEB_PROCESSES": "1",
        "CHAT_REALTIME_CONCURRENCY": "1",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scripts.bench"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540
        )
    finally:
        drop_bench_data(db_name, prefix)
    logs = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("bench-*.log")))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs

    report = json.loads(out.read_text())
    total = PAIRS * MESSAGES
    for phase in ("product", "relay"):
        figures = report[phase]
        assert LOAD_KEYS <= figures.keys(), phase
        assert (figures["sent"], figures["acked"], figures["delivered"]) == (total, total, total), phase
        assert (figures["lost"], figures["duplicated"], figures["errors"]) == (0, 0, 0), phase
        assert set(figures["ack_ms"]) == set(figures["deliver_ms"]) == PERCENTILES
    product = report["product"]
    assert product["stored"] == total
    assert product["duplicated_stored"] == product["duplicated_push"] == product["lost_not_stored"] == 0
    assert product["realtime_queue_max_depth"] is not None
    assert product["processes"]["daphne"] == 1
    assert any(kind.startswith("celery[realtime") for kind in product["processes"])
    assert {"mariadbd", "redis-server", "generator"} <= product["cpu_seconds"].keys()
    assert report["relay"]["processes"]["daphne"] == 1
    assert "ratio_to_relay" in report
    assert set(report["rest"]["conversation_list_ms"]) == set(report["rest"]["history_page_ms"]) == PERCENTILES
    idle = report["idle"]
    assert idle["sockets"] == 20
    # Two source addresses (BENCH_IDLE_PER_ADDRESS=15), both loopback.
    assert idle["source_addresses"] == 2
    assert idle["daphnes"] == 1 and idle["sockets_per_daphne"] == [20]
    assert idle["kb_per_socket"] is not None
    assert idle["delivery_ms"] is not None and idle["deliveries_missing"] == 0
    assert idle["heartbeat_redis_commands_per_s"] is not None
    # Every daphne restarted (supervisord), every client back as the SDKs reconnect, a message through.
    assert idle["restart"]["dropped"] == 20 and idle["restart"]["all_back"] is True
    assert idle["restart"]["reconnected"] == 20
    assert idle["delivery_after_restart_ms"] is not None
    footprint = report["footprint"]
    # The load's messages and one warm-up per pair, plus the rest phase's (one to each of 5 peers, 49 more).
    assert footprint["messages"] == total + PAIRS + 5 + 49
    assert footprint["conversations"] == PAIRS + 5
    assert {"u", "c"} <= footprint["redis"].keys()
    assert footprint["redis"]["c"]["owners"] == PAIRS + 5
    assert footprint["redis_bytes_per_user"] > 0 and footprint["redis_bytes_per_conversation"] > 0
    assert footprint["database"]["t_msg_record_list"]["rows"] == footprint["messages"]
    assert footprint["database_bytes_per_message"] > 0

    overload = report["overload"]
    assert OVERLOAD_KEYS <= overload.keys()
    assert (overload["capacity_per_s"], overload["offered_per_s"]) == (OVERLOAD_CAPACITY, 3 * OVERLOAD_CAPACITY)
    assert overload["sent"] == 3 * OVERLOAD_CAPACITY * OVERLOAD_SECONDS
    answered = overload["acked"] + overload["refused"] + overload["errors_other"] + overload["unanswered"]
    assert overload["sent"] == answered
    assert overload["lost_not_stored"] == overload["duplicated"] == 0
    assert set(overload["ack_ms"]) == set(overload["refusal_ms"]) == set(overload["deliver_ms"]) == PERCENTILES
    assert overload["realtime_queue_max_depth"] is not None
    memory = overload["memory"]
    assert {"daphne", "mariadbd", "redis-server", "generator"} <= memory["rss_mb"].keys()
    assert memory["redis_used_memory_mb"] and memory["samples"] >= 2
    for figures in [*memory["rss_mb"].values(), *memory["redis_used_memory_mb"].values()]:
        assert figures.keys() == {"start_mb", "max_mb", "end_mb"}
    recovery = overload["recovery"]
    assert RECOVERY_KEYS <= recovery.keys()
    assert (recovery["sent"], recovery["acked"], recovery["delivered"]) == (PROBE_MESSAGES,) * 3
    assert recovery["first_acked_and_delivered_after_s"] >= recovery["started_after_s"] >= 1
