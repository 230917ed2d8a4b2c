"""Message ids: increasing as users see them, and unique, increasing and below 2^53 across processes."""

import itertools
import multiprocessing

from .id_worker import generate_ids


def test_message_ids_increase(alice, bob):
    ids = [alice.send(bob, f"m{n}")["msg_id"] for n in range(5)]
    ids.append(bob.send(alice, "reply")["msg_id"])
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_four_processes_hand_out_unique_increasing_53_bit_ids(db):
    count = 20_000
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    processes = [context.Process(target=generate_ids, args=(count, barrier, results)) for _ in range(4)]
    for process in processes:
        process.start()
    try:
        outputs = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
    assert all(process.exitcode == 0 for process in processes)
    assert len({pid for pid, _ in outputs}) == 4
    every_id = []
    for _, ids in outputs:
        assert len(ids) == count
        assert all(a < b for a, b in itertools.pairwise(ids))
        assert all(0 < i < 2**53 for i in ids)
        every_id += ids
    assert len(set(every_id)) == 4 * count
