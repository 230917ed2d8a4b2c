from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from chat_project.common import push

from . import content_filter
from .models import SensitiveWord


@receiver(post_save, sender=SensitiveWord)
@receiver(post_delete, sender=SensitiveWord)
def sensitive_words_changed(sender, **kwargs) -> None:
    # Every process re-reads the list within a few seconds of the version moving.
    transaction.on_commit(content_filter.bump_version)
    transaction.on_commit(content_filter.forget_cached_words)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def close_sockets_of_deactivated_user(sender, instance, **kwargs) -> None:
    """A deactivated user keeps no open socket: each is closed with 4401."""
    if not instance.is_active:
        push.send([push.close_sockets(instance.pk)], quiet=True)


@receiver(post_delete, sender=Token)
def close_sockets_of_revoked_token(sender, instance: Token, **kwargs) -> None:
    """Deleting a token (the admin's revoke) closes the sockets opened with it, with 4401."""
    push.send([push.close_sockets(instance.user_id, token=instance.key)], quiet=True)
