from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person using the chat. The profile (nickname, avatar) lives on the user row."""

    nickname = models.CharField(max_length=64, blank=True, db_index=True)
    # An http(s) URL, or the /media/ path of an uploaded avatar (a URLField
    # would make the admin refuse the latter); the API checks both.
    avatar_url = models.CharField(max_length=500, blank=True, default="")
    # When the user's last socket closed (PROTOCOL.md 1.1 Profile.last_seen);
    # null if they never connected. Written by the presence code with
    # ``update()``, so it sends no post_save.
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "t_user"

    # What watchers of this user see (a ``profile`` frame when one changes).
    WATCHED_FIELDS = ("nickname", "avatar_url", "is_active")

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user.remember_watched_fields()
        return user

    def remember_watched_fields(self) -> None:
        self._watched_values = {name: self.__dict__.get(name) for name in self.WATCHED_FIELDS}

    def watched_fields_changed(self) -> bool:
        """Whether a watched field differs from what was loaded (or last saved)."""
        loaded = getattr(self, "_watched_values", None)
        if loaded is None:
            return True
        return any(self.__dict__.get(name) != value for name, value in loaded.items())

    def __str__(self) -> str:
        return self.username


class Block(models.Model):
    """``blocker`` blocks ``blocked`` (PROTOCOL.md 1.2): no sends either way, no typing or presence between them."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "t_block"
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="block_pair_unique")]
        # (blocker, blocked) is the unique key; who blocks a user is found by this one.
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_blocked")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"
