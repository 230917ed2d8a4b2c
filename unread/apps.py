from django.apps import AppConfig


class UnreadConfig(AppConfig):
    name = "unread"
