from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    list_display = ("id", "username", "nickname", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "nickname")
    # UserAdmin.fieldsets is a tuple; the stubs type the ModelAdmin default (None too).
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Profile", {"fields": ("nickname", "avatar_url")}))
