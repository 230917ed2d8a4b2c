from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from chat_project.common.admin_base import ReadOnlyAdmin

from .models import Block, User


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    list_display = ("id", "username", "nickname", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "nickname")
    # UserAdmin.fieldsets is a tuple; the stubs type the ModelAdmin default (None too).
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Profile", {"fields": ("nickname", "avatar_url")}))


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    """Read-only: who blocks whom (PROTOCOL.md 1.2); only the users themselves block and unblock."""

    list_display = ("blocker", "blocked", "created_at")
    raw_id_fields = ("blocker", "blocked")
    search_fields = ("blocker__username", "blocked__username")
