from django.conf import settings
from django.db import models


class UnreadCounter(models.Model):
    """Per (conversation, user): messages received and messages read.

    Updated in the same transaction as the message rows it counts, so it is
    exact; Redis holds a copy (``unread/store.py``) tagged with ``version`` so
    that a late writer can never overwrite a newer value. unread = received - read.
    """

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    received = models.PositiveIntegerField(default=0)
    read = models.PositiveIntegerField(default=0)
    # The newest message id this user has read here (for read receipts).
    last_read_msg_id = models.BigIntegerField(default=0)
    # The read receipt this user's reading gives their peer (``peer_read_up_to``): the
    # newest message they received here that is read and at or below last_read_msg_id.
    # Mark-read and recall keep it, so rebuilding a list's receipts reads it instead of
    # diving into the message table once per conversation (messaging/reads.py).
    # db_default: rows inserted by SQL, or by code of the release before, get 0.
    read_receipt_msg_id = models.BigIntegerField(default=0, db_default=0)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "t_unread_counter"
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="unread_counter_unique")]

    def __str__(self) -> str:
        return f"unread of user {self.user_id} in conversation {self.conversation_id}"

    @property
    def unread(self) -> int:
        return max(0, self.received - self.read)
