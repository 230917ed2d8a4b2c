# PROTOCOL.md 1.2 revisions. No step holds the table for long on MariaDB 10.11:
# ADD COLUMN with a constant default is instant, the backfill runs in short
# batches by primary key (messaging/backfill.py), CREATE INDEX is online
# (in place, writes go on), DROP INDEX is metadata only. The old (recipient,
# msgId) and (sender, msgId) indexes served sync by msg_id; they go last, so
# the old code's sync keeps its indexes until the new ones exist.

from django.conf import settings
from django.db import migrations, models


def backfill(apps, schema_editor):
    from messaging.backfill import backfill_revs

    backfill_revs()


class Migration(migrations.Migration):
    atomic = False  # each backfill batch commits on its own

    dependencies = [
        ("conversations", "0002_initial"),
        ("messaging", "0005_message_stream"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="messagerecord",
            name="rev",
            field=models.BigIntegerField(db_default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="messagerecord",
            index=models.Index(fields=["recipient", "rev"], name="msg_recipient_rev"),
        ),
        migrations.AddIndex(
            model_name="messagerecord",
            index=models.Index(fields=["sender", "rev"], name="msg_sender_rev"),
        ),
        migrations.RemoveIndex(model_name="messagerecord", name="msg_recipient_msgid"),
        migrations.RemoveIndex(model_name="messagerecord", name="msg_sender_msgid"),
    ]
