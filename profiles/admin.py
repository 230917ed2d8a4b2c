from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    list_display = ("id", "username", "nickname", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "nickname")
    fieldsets = UserAdmin.fieldsets + (("Profile", {"fields": ("nickname", "avatar_url")}),)
