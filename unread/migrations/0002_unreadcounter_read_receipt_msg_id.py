"""The read receipt a reader gives their peer, kept on the reader's counter row.

The backfill takes one dive into the message table's unread index per counter
that has a read position, in batches of counter ids that commit on their own:
small transactions for Galera's write sets, and a run stopped half way is
finished by running it again (every batch recomputes its rows). On a data set
of 1.8 million counters it took about 90 s (docs/benchmarks.md, "A data set a year old").
"""

from django.db import migrations, models

BATCH = 5000

BACKFILL = (
    "UPDATE t_unread_counter c SET c.read_receipt_msg_id = COALESCE("
    " (SELECT MAX(m.msgId) FROM t_msg_record_list m WHERE m.recipient_id = c.user_id"
    " AND m.sessionId = c.conversation_id AND m.isRead AND m.msgId <= c.last_read_msg_id), 0)"
    " WHERE c.id >= %s AND c.id < %s AND c.last_read_msg_id > 0"
)


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM t_unread_counter")
        (last,) = cursor.fetchone()
        for start in range(1, last + 1, BATCH):
            cursor.execute(BACKFILL, [start, start + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("unread", "0001_initial"),
        ("messaging", "0002_initial"),  # the unread index the backfill dives into
    ]

    operations = [
        migrations.AddField(
            model_name="unreadcounter",
            name="read_receipt_msg_id",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
