from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import content_filter
from .models import SensitiveWord


@receiver(post_save, sender=SensitiveWord)
@receiver(post_delete, sender=SensitiveWord)
def sensitive_words_changed(sender, **kwargs) -> None:
    # Every process re-reads the list within a few seconds of the version moving.
    transaction.on_commit(content_filter.bump_version)
    transaction.on_commit(content_filter.forget_cached_words)
