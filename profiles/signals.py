"""Keep the profile cache true when a profile changes anywhere (admin included)."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import store
from .models import User


@receiver(post_save, sender=User)
def forget_cached_profile(sender, instance: User, **kwargs) -> None:
    transaction.on_commit(lambda: store.forget_profile(instance.pk))
