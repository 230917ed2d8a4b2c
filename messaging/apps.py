from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        # Imported once the app registry is ready (models load first): the
        # signal receivers, and what the conversation list reads from
        # message rows (conversations/hooks.py).
        from conversations import hooks

        from . import payloads, reads, signals  # noqa: F401

        hooks.register_message_reads(
            hooks.MessageReads(
                messages_by_id=payloads.messages_by_id,
                rebuild_peer_reads=reads.rebuild_peer_reads,
                peer_reads_in=reads.peer_reads_in,
            )
        )
