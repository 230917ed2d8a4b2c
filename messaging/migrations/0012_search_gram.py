# The search index (docs/architecture.md, "Search"). Creating the table holds
# nothing; the backfill reads the message table in short batches by primary
# key and writes only the new table (messaging/search_index.py), so sends,
# reads and changes go on while it runs. Its time on 1,000,000 messages is in
# docs/architecture.md. Processes on the old code that keep sending during
# the migration are covered by its last pass; run `manage.py backfill_search`
# again if they sent after it.

from django.db import migrations, models


def backfill(apps, schema_editor):
    from messaging.search_index import backfill_search_index

    backfill_search_index()


class Migration(migrations.Migration):
    atomic = False  # each backfill batch commits on its own

    dependencies = [
        ("messaging", "0011_message_attachment_count"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchGram",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "user_id", "gram", "msg_id", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("user_id", models.BigIntegerField()),
                ("gram", models.CharField(db_collation="utf8mb4_nopad_bin", max_length=2)),
                ("msg_id", models.BigIntegerField()),
            ],
            options={
                "db_table": "t_search_gram",
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
