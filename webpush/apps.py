from django.apps import AppConfig


class WebPushConfig(AppConfig):
    name = "webpush"
    verbose_name = "Web Push"
