"""``manage.py backfill_revs``: set rev = msg_id on rows still without a revision.

Migration 0006 does this once; run it again after deploying the new code if
processes on the old code kept sending during the migration (their rows got
rev 0 after the migration's last pass).
"""

from django.core.management.base import BaseCommand

from messaging.backfill import BATCH_ROWS, backfill_revs


class Command(BaseCommand):
    help = "Set rev = msg_id on messages written before revisions existed, in short batches."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=BATCH_ROWS, help="rows per UPDATE")
        parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")

    def handle(self, *args, batch: int, pause: float, **options) -> None:
        done = backfill_revs(batch, pause)
        self.stdout.write(f"{done} message(s) given a revision.")
