"""Backfilling ``rev`` (PROTOCOL.md 1.2) on rows written before the column existed.

Used by migration 0006 and by ``manage.py backfill_revs``. Short batches by
primary key, each its own statement in autocommit: no long lock on the
table, and writers go on between batches (docs/architecture.md, "Revisions").
"""

import time

from django.db import connection

BATCH_ROWS = 10_000


def backfill_revs(batch_rows: int = BATCH_ROWS, pause_seconds: float = 0.0, log=None) -> int:
    """Set rev = msgId on every row whose rev is still 0; returns how many rows were set.

    Walks the primary key up to the largest id at the end of each pass, until a
    pass finds the table's end unchanged, so rows inserted meanwhile by
    processes still on the old code are included.
    """
    table = "t_msg_record_list"
    done, start = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            end = cursor.fetchone()[0]
            if start >= end:
                return done
            while start < end:
                cursor.execute(
                    f"UPDATE {table} SET rev = msgId WHERE id > %s AND id <= %s AND rev = 0",
                    [start, start + batch_rows],
                )
                done += cursor.rowcount
                start += batch_rows
                if log is not None:
                    log(start, end, done)
                if pause_seconds:
                    time.sleep(pause_seconds)
