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
from pathlib import Path

from . import dataset, scale, system, users

CALLS = int(os.environ.get("BENCH_READS_CALLS") or 300)


def main(paths: list[str]) -> int:
    meta = json.loads((Path(dataset.default_workdir()) / "dataset.json").read_text())
    heavy = meta["landmarks"]["heavy_user"]
    paths = paths or [f"sync?since={scale.half_year_cursor(meta['size'])}", "offline", "sync/position"]
    token = scale.token_for(scale.Db(), heavy)
    port = system.free_port()
    service = system.Service("reads", system.launcher_command(port), port, system.bench_env())
    try:
        scale.say(f"every process idle after {service.wait_until_idle()} s")
        api = users.Api(port, token)
        for path in paths:
            timing = scale.time_calls(api, "GET", path, calls=CALLS)
            size = len(api.fetch("GET", path))
            print(json.dumps({"path": path, "bytes": size, "calls": CALLS, **timing}), flush=True)
        api.close()
    finally:
        service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
