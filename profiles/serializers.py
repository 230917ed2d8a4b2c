"""Shapes of the profile endpoints, for the OpenAPI schema (PROTOCOL.md's Profile)."""

from rest_framework import serializers


class ProfileSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    nickname = serializers.CharField()
    avatar_url = serializers.CharField(help_text='"" when unset')
    online = serializers.BooleanField()


class ProfileListSerializer(serializers.Serializer):
    results = ProfileSerializer(many=True)


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    nickname = serializers.CharField(required=False)


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    token = serializers.CharField()


class ProfileUpdateSerializer(serializers.Serializer):
    nickname = serializers.CharField(required=False)
    avatar_url = serializers.CharField(required=False, allow_blank=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
