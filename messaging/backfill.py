"""Backfilling ``rev`` (PROTOCOL.md 1.2) on rows written before the column existed.

Used by migration 0006 and by ``manage.py backfill_revs``. Short batches by
primary key, each its own statement in autocommit: no long lock on the
table, and writers go on between batches (docs/architecture.md, "Revisions").
"""

import time
from collections.abc import Iterator

from django.db import connection

BATCH_ROWS = 10_000
TABLE = "t_msg_record_list"


def id_batches(cursor, table: str, batch_rows: int, after: int = 0) -> Iterator[tuple[int, int, int]]:
    """``(low, high, end)``: the primary key above ``after``, in ranges ``low < id <= high`` of ``batch_rows`` ids.

    ``end`` is the largest id when the pass began. After a pass the end is read
    again, and the walk goes on until a pass finds it unchanged, so rows
    inserted meanwhile by processes still on the old code are included.
    """
    start = after
    while True:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        end = cursor.fetchone()[0]
        if start >= end:
            return
        while start < end:
            high = min(end, start + batch_rows)
            yield start, high, end
            start = high


def backfill_revs(batch_rows: int = BATCH_ROWS, pause_seconds: float = 0.0, log=None, after: int = 0) -> int:
    """Set rev = msgId on every row above ``after`` whose rev is still 0; returns how many rows were set."""
    done = 0
    with connection.cursor() as cursor:
        for low, high, end in id_batches(cursor, TABLE, batch_rows, after):
            cursor.execute(f"UPDATE {TABLE} SET rev = msgId WHERE id > %s AND id <= %s AND rev = 0", [low, high])
            done += cursor.rowcount
            if log is not None:
                log(high, end, done)
            if pause_seconds:
                time.sleep(pause_seconds)
    return done
