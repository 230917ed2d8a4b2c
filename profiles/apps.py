from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Users and profiles"

    def ready(self) -> None:
        from . import signals  # noqa: F401
