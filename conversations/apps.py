from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # Imported once the app registry is ready: who may see a deactivated
        # user's profile depends on shared conversations (profiles/hooks.py).
        from profiles import hooks

        from .services import shares_conversation

        hooks.register_shares_conversation(shares_conversation)
