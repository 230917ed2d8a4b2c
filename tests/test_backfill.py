"""Backfills walk the message table by primary key, in batches, until its end stops moving (messaging/backfill.py)."""

from django.db import connection

from messaging.backfill import backfill_revs, id_batches
from messaging.models import MessageRecord


def test_id_batches_cover_the_table_and_rows_added_during_the_walk(alice, bob):
    ids = [alice.send(bob, f"m{n}")["msg_id"] for n in range(5)]
    rows = sorted(MessageRecord.objects.filter(msg_id__in=ids).values_list("id", flat=True))
    seen: list[int] = []
    with connection.cursor() as cursor:
        # From just below this test's rows: the table's ids go on across tests.
        for low, high, end in id_batches(cursor, "t_msg_record_list", 2, after=rows[0] - 1):
            assert low < high <= end
            seen += [r for r in rows if low < r <= high]
            if len(rows) == 5:  # a writer still on the old code inserts during the first pass
                later = alice.send(bob, "late")["msg_id"]
                rows.append(MessageRecord.objects.get(msg_id=later).id)
    assert seen == rows


def test_backfill_revs_sets_rev_to_msg_id_where_it_is_missing(alice, bob):
    ids = [alice.send(bob, f"m{n}")["msg_id"] for n in range(5)]
    edited = ids[0]
    alice.patch(f"messages/{edited}", {"content": "changed"})
    edited_rev = MessageRecord.objects.get(msg_id=edited).rev
    assert edited_rev > edited
    MessageRecord.objects.filter(msg_id__in=ids[1:]).update(rev=0)  # rows from before the column

    progress: list[tuple[int, int, int]] = []
    first = MessageRecord.objects.get(msg_id=ids[0]).id
    assert backfill_revs(batch_rows=2, log=lambda *step: progress.append(step), after=first - 1) == 4
    revs = dict(MessageRecord.objects.filter(msg_id__in=ids).values_list("msg_id", "rev"))
    assert revs == {edited: edited_rev, **{m: m for m in ids[1:]}}
    assert len(progress) >= 3 and progress[-1][2] == 4
    assert backfill_revs(after=first - 1) == 0  # again: nothing left
