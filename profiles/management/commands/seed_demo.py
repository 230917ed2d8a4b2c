from django.conf import settings
from django.core.management.base import BaseCommand

from profiles.models import User
from profiles.services import register_user

DEMO_USERS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]
DEMO_PASSWORD = "chat-demo-pass"  # noqa: S105 - the demo accounts' documented password (README.md)


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol) and, in dev, an admin account. Idempotent."

    def handle(self, *args, **options) -> None:
        if settings.IS_PRODUCTION:
            self.stdout.write("CHAT_ENV=production: no demo users created.")
            return
        for username, nickname in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                register_user(username, DEMO_PASSWORD, nickname)
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", password=DEMO_PASSWORD, nickname="Moderator")
        self.stdout.write(
            f"Demo users: alice, bob, carol (password {DEMO_PASSWORD!r}); admin: admin / {DEMO_PASSWORD!r} at /admin/"
        )
