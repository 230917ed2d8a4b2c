from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.drain import drain_event, drain_group


class Command(BaseCommand):
    help = (
        "Close the WebSockets of this host's daphne processes (CHAT_NODE_NAME) with code 1012, "
        "in batches, so that clients reconnect elsewhere; sockets that connect meanwhile are closed too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=100, help="sockets each daphne process closes at a time")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between two batches")
        parser.add_argument("--node", default=settings.CHAT_NODE_NAME, help="the host to drain (default: this one)")
        parser.add_argument("--cancel", action="store_true", help="stop draining: accept sockets again")

    def handle(self, *args, batch: int, interval: float, node: str, cancel: bool, **options) -> None:
        if batch < 1 or interval < 0:
            raise CommandError("--batch must be at least 1 and --interval not negative")
        layer = get_channel_layer()
        if layer is None:
            raise CommandError("no channel layer is configured")
        async_to_sync(layer.group_send)(drain_group(node), drain_event(batch, interval, cancel))
        if cancel:
            self.stdout.write(f"Told the daphne processes of {node} to accept sockets again.")
        else:
            self.stdout.write(
                f"Told the daphne processes of {node} to close their sockets with 1012, "
                f"{batch} each every {interval} s."
            )
