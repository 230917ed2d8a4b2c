from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person using the chat. The profile (nickname, avatar) lives on the user row."""

    nickname = models.CharField(max_length=64, blank=True, db_index=True)
    avatar_url = models.URLField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "t_user"

    def __str__(self) -> str:
        return self.username

    @property
    def display_name(self) -> str:
        return self.nickname or self.username
