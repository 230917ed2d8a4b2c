"""Runs in a spawned process of test_message_ids: hands out message ids as a server process does.

Module level so that multiprocessing's ``spawn`` start method can import it.
"""

import os


def generate_ids(count: int, barrier, results) -> None:
    """Set Django up, lease a worker id, wait for the others, then take ``count`` ids."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "chat_project.settings_test"
    import django

    django.setup()
    from messaging.ids import next_message_id

    ids = [next_message_id()]  # leases this process's worker id before the race starts
    barrier.wait(timeout=60)
    ids += [next_message_id() for _ in range(count - 1)]
    results.put((os.getpid(), ids))
