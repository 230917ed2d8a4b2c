import time

from django.core.management.base import BaseCommand

from messaging.rebuild import BATCH, rebuild_everything


class Command(BaseCommand):
    help = (
        "Rebuild every Redis structure (conversation lists, unread counters, offline lists, "
        "recent windows, profile cache) from the database, in batches of users. An interrupted "
        "run is continued where it stopped by the next one (--restart starts over)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help="users per batch (default %(default)s)")
        parser.add_argument("--restart", action="store_true", help="drop and start over, even after an interruption")
        parser.add_argument(
            "--stop-after", type=int, default=None, help="stop after this many users, as if interrupted (tests)"
        )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        last_report = [started]

        def progress(users: int, last_id: int) -> None:
            now = time.monotonic()
            if now - last_report[0] >= 10:
                last_report[0] = now
                self.stderr.write(f"rebuilt {users} user(s), up to id {last_id}, in {now - started:.0f} s")

        done = rebuild_everything(
            batch=options["batch"], restart=options["restart"], stop_after=options["stop_after"], progress=progress
        )
        seconds = time.monotonic() - started
        if done.resumed_after is not None:
            self.stdout.write(f"Continued an interrupted rebuild after user id {done.resumed_after}.")
        else:
            self.stdout.write(f"Dropped {done.removed} Redis key(s).")
        state = "rebuilt" if done.finished else "stopped early; run again to continue:"
        self.stdout.write(f"{state} the structures of {done.users} user(s) in {seconds:.1f} s.")
