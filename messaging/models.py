from django.conf import settings
from django.db import models


class MessageStatus(models.IntegerChoices):
    NORMAL = 0, "normal"
    RECALLED = 1, "recalled"


class RecalledBy(models.TextChoices):
    """Who took a recalled message back (PROTOCOL.md 1.1 ``recalled_by``)."""

    SENDER = "sender", "sender"
    MODERATOR = "moderator", "moderator"


class MessageRecord(models.Model):
    """The durable message record (the seed's ``t_msg_record_list``).

    The seed's columns keep their names (id, sessionId, msgId, isRead,
    recordStatus, createTime); the message itself (sender, recipient,
    content, client_msg_id) lives in the same row, so one insert makes a
    message durable. ``offline`` says the recipient had no socket when it
    arrived and has not acked it yet; ``fan_out_done`` says the Celery
    fan-out finished (the sweeper re-drives rows where it did not).
    """

    session = models.ForeignKey(
        "conversations.Conversation", on_delete=models.PROTECT, db_column="sessionId", related_name="+"
    )
    msg_id = models.BigIntegerField(unique=True, db_column="msgId")
    # PROTOCOL.md 1.2: the message's revision, from the msg_id space. A new
    # message has rev == msg_id; every change both users see (recall, edit,
    # reaction) takes a fresh, larger one under the users' stream locks
    # (messaging/changes.py), so sync by rev is gap-free like sync by msg_id
    # was (docs/architecture.md). db_default: adding the column is instant
    # (rows written before it are backfilled by migration 0006).
    rev = models.BigIntegerField(db_default=0)
    is_read = models.BooleanField(default=False, db_column="isRead")
    record_status = models.SmallIntegerField(
        choices=MessageStatus.choices, default=MessageStatus.NORMAL, db_column="recordStatus"
    )
    created_at = models.DateTimeField(db_column="createTime")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content = models.TextField()
    # NULL, not "": sends without a client_msg_id must not collide in the unique constraint.
    # Binary, no-pad collation: "abc", "ABC" and "abc " are three different ids
    # (the table's utf8mb4_unicode_ci would make them one and drop the later sends).
    client_msg_id = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, db_collation="utf8mb4_nopad_bin"
    )
    # "" while the message is normal, and for messages recalled before this
    # column existed (who did it is unknown); see ``RecalledBy``.
    recalled_by = models.CharField(max_length=9, choices=RecalledBy.choices, blank=True, default="")
    offline = models.BooleanField(default=False)
    fan_out_done = models.BooleanField(default=False)
    # PROTOCOL.md 1.2: when the sender last edited the content (null: never);
    # the earlier contents are MessageVersion rows.
    edited_at = models.DateTimeField(null=True, blank=True)
    # PROTOCOL.md 1.2: the msg_id of the message this one quotes (same
    # conversation, checked by the send batch); null when it quotes none.
    reply_to_msg_id = models.BigIntegerField(null=True, blank=True, db_column="reply_to")
    # PROTOCOL.md 1.2: [{"user_id", "emoji"}] ordered by user_id, null when
    # none. In the row, not a table of their own: a one-to-one message has at
    # most two (one per user), every Message answer carries them, and a
    # change rewrites them under the row lock it takes anyway for the new rev
    # (messaging/reactions.py), so no read path pays a join or a query.
    reactions = models.JSONField(null=True, blank=True)
    # PROTOCOL.md 1.2: how many uploads the send claimed (the Attachment rows
    # hold them). Read paths query attachments only for pages where some
    # message has any, so a page without attachments costs what it did.
    # db_default: adding the column is instant; older rows have none.
    attachment_count = models.PositiveSmallIntegerField(db_default=0)

    class Meta:
        db_table = "t_msg_record_list"
        constraints = [
            # A retried send with the same client_msg_id finds the first message.
            # NULLs (sends without one) never collide.
            models.UniqueConstraint(fields=["sender", "client_msg_id"], name="msg_sender_client_msg_id_unique"),
        ]
        indexes = [
            # History pages: WHERE sessionId = ? AND msgId < ? ORDER BY msgId DESC LIMIT n.
            models.Index(fields=["session", "msg_id"], name="msg_session_msgid"),
            # Sync: a user's sent and received messages changed after a cursor (by rev).
            models.Index(fields=["recipient", "rev"], name="msg_recipient_rev"),
            # (sender, client_msg_id) above leads with sender; sync needs (sender, rev).
            models.Index(fields=["sender", "rev"], name="msg_sender_rev"),
            # Mark-read and unread recount: the unread rows of one recipient in one conversation.
            models.Index(fields=["recipient", "session", "is_read", "msg_id"], name="msg_unread"),
            # Offline pull and ack: a recipient's pending rows by sender.
            models.Index(fields=["recipient", "offline", "sender", "msg_id"], name="msg_offline"),
            # The sweeper: fan-out never finished.
            models.Index(fields=["fan_out_done", "msg_id"], name="msg_fan_out_pending"),
        ]

    def __str__(self) -> str:
        # Moderators read this in the admin log (LogEntry.object_repr): usernames, not ids.
        # Callers that print many records select_related("sender", "recipient").
        return f"message {self.msg_id} from {self.sender.username} to {self.recipient.username}"


class MessageVersion(models.Model):
    """An earlier content of an edited message, kept for moderators (the admin), never served by the API."""

    message = models.ForeignKey(MessageRecord, on_delete=models.CASCADE, related_name="versions")
    content = models.TextField()
    # When this content was replaced by the next one.
    replaced_at = models.DateTimeField()

    class Meta:
        db_table = "t_msg_version"
        ordering = ["replaced_at", "pk"]

    def __str__(self) -> str:
        return f"earlier version of message {self.message_id}"


class SearchGram(models.Model):
    """One posting of the search index: message ``msg_id``, which ``user_id`` sent or received, holds ``gram``.

    A gram is two characters of the message's folded text (case and accents
    removed), or a word's last character alone; messaging/search_index.py
    makes them and docs/architecture.md ("Search") says why. The key leads
    with the user, so one user's search reads that user's postings only,
    newest first. No foreign keys: rows are written in batches by the fan-out
    and deleted by recall and edit, and a stale one only costs a check.
    """

    pk = models.CompositePrimaryKey("user_id", "gram", "msg_id")
    user_id = models.BigIntegerField()
    # Binary: the grams are folded by the app, and the prefix ranges of
    # one-character words need code point order.
    gram = models.CharField(max_length=2, db_collation="utf8mb4_nopad_bin")
    msg_id = models.BigIntegerField()

    class Meta:
        db_table = "t_search_gram"

    def __str__(self) -> str:
        return f"gram {self.gram!r} of message {self.msg_id} for user {self.user_id}"


class SensitiveWord(models.Model):
    """A word the content filter acts on; moderators manage them in the admin."""

    class Action(models.TextChoices):
        MASK = "mask", "mask with *"
        REJECT = "reject", "reject the message"

    word = models.CharField(max_length=100, unique=True)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.MASK)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "t_sensitive_word"
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


class MessageStream(models.Model):
    """Per user, the largest id (msg_id or rev) given to any message the user sent or received.

    The send path locks the rows of both users of every message it accepts and
    hands out ids larger than both, inside the transaction that inserts the
    messages. So a user's message ids are assigned in commit order, and a
    reader that sees id X also sees every smaller id of that user: the sync
    cursor can never pass a message still being written
    (docs/architecture.md, "Sync is gap-free").
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, db_constraint=False, related_name="+"
    )
    last_msg_id = models.BigIntegerField(default=0)

    class Meta:
        db_table = "t_msg_stream"

    def __str__(self) -> str:
        return f"message stream of user {self.user_id} (last {self.last_msg_id})"


class AttachmentKind(models.TextChoices):
    IMAGE = "image", "image"
    FILE = "file", "file"


class Attachment(models.Model):
    """An uploaded file (PROTOCOL.md 1.2 "Attachments"); messaging/attachments.py holds its rules.

    ``storage_key`` and ``thumbnail_key`` are random tokens: they name neither
    the uploader nor the conversation. ``message`` is NULL until a send claims
    the upload (``claim_attachments``), then the ``msg_id`` it belongs to; the
    column holds the msg_id itself (``to_field``) and has no database
    constraint, so the send path may claim before or after inserting its row.
    """

    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    storage_key = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=5, choices=AttachmentKind.choices)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    thumbnail_key = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()
    message = models.ForeignKey(
        MessageRecord,
        to_field="msg_id",
        db_column="msg_id",
        db_constraint=False,
        db_index=False,  # the index below leads with it
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="attachments",
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "t_attachment"
        indexes = [
            # A message's attachments (payloads, access), and the sweeper's uploads never attached, oldest first.
            models.Index(fields=["message", "created_at"], name="attachment_unattached"),
        ]

    def __str__(self) -> str:
        return f"attachment {self.pk} ({self.name})"
