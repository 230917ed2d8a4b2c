"""The benchmark behind `make bench` (docs/benchmarks.md); run it as `python -m scripts.bench`.

- ``system``: the bench's environment, the processes it starts (the
  `make run` launcher, single daphnes), their CPU and memory;
- ``load``: the WebSocket load generator and its bookkeeping;
- ``users``: REST calls and bulk-made users;
- ``__main__``: the phases and the report.
"""
