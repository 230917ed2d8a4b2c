"""``manage.py backfill_search``: index every message in the search index (messaging/search_index.py).

Migration 0012 does this once; run it again after deploying the new code if
processes on the old code kept sending during the migration (their messages
were never indexed by a fan-out). Harmless to repeat.
"""

from django.core.management.base import BaseCommand

from messaging.search_index import BACKFILL_BATCH, backfill_search_index


class Command(BaseCommand):
    help = "Index every normal message in the search index, in short batches."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=BACKFILL_BATCH, help="messages per batch")
        parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")

    def handle(self, *args, batch: int, pause: float, **options) -> None:
        done = backfill_search_index(batch, pause)
        self.stdout.write(f"{done} message(s) indexed.")
