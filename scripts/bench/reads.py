"""Time a few REST reads of the heaviest user on the ``scale`` data set, to compare two versions of the code.

    python -m scripts.bench.reads                        # sync (500), offline, sync/position
    BENCH_READS_CALLS=1000 python -m scripts.bench.reads 'sync/position' 'conversations?limit=50'

The data set must be loaded (``python -m scripts.bench.dataset``). The system
starts as ``scripts.bench.scale`` starts it, waits until every process is
idle, then each path gets 10 untimed calls and BENCH_READS_CALLS (300)
timed ones, one after another on one kept-alive connection. Times stop at
the answer's last byte; the JSON is not decoded. Unlike the ``scale`` phase
nothing is rebuilt or flushed first, so a run takes seconds and two
versions can be alternated (docs/benchmarks.md, "Fewer hops per REST
request, and times as text").
"""

import json
import os
import sys
import time
from pathlib import Path

from . import dataset, scale, system, users
from .load import percentiles

CALLS = int(os.environ.get("BENCH_READS_CALLS") or 300)


def main(paths: list[str]) -> int:
    meta = json.loads((Path(dataset.default_workdir()) / "dataset.json").read_text())
    heavy = meta["landmarks"]["heavy_user"]
    half_year = dataset.msg_id_at(meta["size"]["end_ms"] - 182 * dataset.DAY_MS)
    paths = paths or [f"sync?since={half_year}", "offline", "sync/position"]
    token = scale.token_for(scale.Db(), heavy)
    port = system.free_port()
    service = system.Service("reads", system.launcher_command(port), port, system.bench_env())
    try:
        scale.say(f"every process idle after {service.wait_until_idle()} s")
        api = users.Api(port, token)
        for path in paths:
            for _ in range(10):
                api.fetch("GET", path)
            seconds, size = [], 0
            for _ in range(CALLS):
                started = time.perf_counter()
                size = len(api.fetch("GET", path))
                seconds.append(time.perf_counter() - started)
            print(json.dumps({"path": path, "bytes": size, "calls": CALLS, **percentiles(seconds)}), flush=True)
        api.close()
    finally:
        service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
