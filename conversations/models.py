from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """One row per unordered pair of users: ``user_low`` has the smaller id.

    ``last_msg_id`` is the newest message's id, kept in the send transaction;
    the per-user conversation lists in Redis are rebuilt from it.
    """

    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    last_msg_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "t_conversation"
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="conversation_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(user_low__lt=models.F("user_high")), name="conversation_pair_ordered"
            ),
        ]
        # A user's list, read from each side: the index alone answers it (id is in every
        # InnoDB index), in a few pages, so a cold list of 4,500 conversations no longer
        # reads 4,500 table rows from disk (docs/benchmarks.md, "The cold conversation list").
        indexes = [
            models.Index(fields=["user_low", "last_msg_id", "user_high"], name="conversation_low_list"),
            models.Index(fields=["user_high", "last_msg_id", "user_low"], name="conversation_high_list"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.pk} ({self.user_low_id}, {self.user_high_id})"

    def peer_id(self, user_id: int) -> int:
        return self.user_high_id if user_id == self.user_low_id else self.user_low_id


class ConversationSetting(models.Model):
    """One user's settings of one conversation (PROTOCOL.md 1.2); no row means all false."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    muted = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    pinned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "t_conversation_setting"
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="conversation_setting_unique")]

    def __str__(self) -> str:
        return f"settings of conversation {self.conversation_id} for user {self.user_id}"
