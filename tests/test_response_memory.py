"""A REST response's page is freed with the response, not left for CPython's cycle collector.

DRF's Response and its view refer to each other; without
``chat_project.middleware.ReleaseRenderedData`` every page rendered (500
messages of ``sync``) hung from that cycle until a full collection, and those
collections put a 6-13 ms stall into the p99 of the large reads
(docs/benchmarks.md, "Warm reads at 10 million messages").
"""

import gc
import json


def cyclic_garbage_of(call) -> int:
    """Objects that only the cycle collector frees once ``call()``'s response is dropped."""
    gc.collect()
    gc.disable()
    try:
        response = call()
        assert response.status_code == 200, response.content
        # Not response.json(): the test client keeps what that parses on the response.
        assert json.loads(response.content)["results"]
        del response
        return gc.collect()
    finally:
        gc.enable()


def test_a_large_page_leaves_no_cyclic_garbage_behind_it(alice, bob):
    for i in range(120):
        alice.send(bob, f"m{i}")
    small = cyclic_garbage_of(lambda: alice.get("sync", {"since": 0, "limit": 2}))
    large = cyclic_garbage_of(lambda: alice.get("sync", {"since": 0, "limit": 120}))
    # A page's messages (a dict and two lists each) would add hundreds of objects.
    assert large - small < 20, (small, large)
