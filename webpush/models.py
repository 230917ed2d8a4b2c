from django.conf import settings
from django.db import models


class VapidKey(models.Model):
    """The server's VAPID key pair (RFC 8292): one row, made on first use, shared by every app node.

    In the database, not in a file, so that a cluster of nodes signs with one
    key: browsers bind a subscription to the application server key they were
    given, and a second key would make another node's pushes fail.
    """

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON)
    private_key_pem = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "t_webpush_vapid_key"

    def __str__(self) -> str:
        return f"VAPID key of {self.created_at:%Y-%m-%d}"


class PushSubscription(models.Model):
    """A browser's PushSubscription (PROTOCOL.md 1.2): where to POST, and the keys to encrypt for it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.TextField()
    # SHA-256 of the endpoint: an endpoint can be longer than a unique index may be.
    endpoint_hash = models.CharField(max_length=64, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "t_webpush_subscription"
        indexes = [models.Index(fields=["user", "created_at"], name="webpush_user_created")]

    def __str__(self) -> str:
        return f"push subscription {self.pk} of user {self.user_id}"
