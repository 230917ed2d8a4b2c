from django.core.management.base import BaseCommand

from messaging.rebuild import rebuild_everything


class Command(BaseCommand):
    help = (
        "Rebuild every Redis structure (conversation lists, unread counters, offline lists, "
        "recent windows, profile cache) from the database."
    )

    def handle(self, *args, **options) -> None:
        users, removed = rebuild_everything()
        self.stdout.write(f"Dropped {removed} Redis key(s); rebuilt the structures of {users} user(s).")
