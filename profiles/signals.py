"""Keep the profile cache true, and watchers told, when a profile changes anywhere (admin included)."""

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from . import store
from .models import User
from .presence import tell_watchers_about_profile

logger = logging.getLogger(__name__)


@receiver(post_save, sender=User)
def profile_saved(sender, instance: User, created: bool, **kwargs) -> None:
    user_id = instance.pk
    # A login's last_login or a new password is no news for watchers; a
    # nickname, an avatar or a deactivation is (a ``profile`` frame).
    tell_watchers = not created and instance.watched_fields_changed()
    instance.remember_watched_fields()

    def after_commit() -> None:
        store.forget_profile(user_id)
        if tell_watchers:
            try:
                tell_watchers_about_profile(user_id)
            except Exception:
                logger.warning("could not tell the watchers of user %s about a profile change", user_id, exc_info=True)

    transaction.on_commit(after_commit)


@receiver(post_save, sender=User)
def forget_tokens_of_deactivated_user(sender, instance: User, **kwargs) -> None:
    """A deactivated user's tokens stop working at once, remembered or not."""
    if not instance.is_active:
        keys = list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True))
        # Now and after the commit: a request in between may have remembered one again.
        store.forget_tokens(keys)
        transaction.on_commit(lambda: store.forget_tokens(keys))


@receiver(post_delete, sender=Token)
def forget_deleted_token(sender, instance: Token, **kwargs) -> None:
    key = instance.key
    store.forget_tokens([key])
    transaction.on_commit(lambda: store.forget_tokens([key]))
