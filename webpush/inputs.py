"""The Web Push request bodies, each declared once (chat_project/common/inputs.py)."""

import base64
import binascii
from typing import NamedTuple

from rest_framework import serializers

from chat_project.common.errors import InvalidInput
from chat_project.common.inputs import Field, Input

from .endpoints import MAX_ENDPOINT_LENGTH, check_endpoint


class Subscribe(NamedTuple):
    endpoint: str
    p256dh: str
    auth: str


class Unsubscribe(NamedTuple):
    endpoint: str


def _b64url(value: object, size: int, field: str) -> str:
    if isinstance(value, str) and len(value) < 200:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size and (size != 65 or raw[0] == 4):
            return value.rstrip("=")
    raise InvalidInput.field(field, f"Must be {size} bytes, base64url.")


def check_keys(field: str, value: object) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput.field(field, 'Must be an object {"p256dh", "auth"}.')
    errors: dict[str, list[str]] = {}
    keys: list[str] = []
    for name, size in (("p256dh", 65), ("auth", 16)):
        try:
            keys.append(_b64url(value.get(name), size, f"{field}.{name}"))
        except InvalidInput as exc:
            errors.update(exc.errors or {})
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors)
    return keys[0], keys[1]


class _KeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(help_text="The browser's P-256 public key (65 bytes, uncompressed), base64url.")
    auth = serializers.CharField(help_text="The 16-byte authentication secret, base64url.")


def _endpoint_field() -> Field:
    return Field(
        check_endpoint,
        serializers.CharField(
            max_length=MAX_ENDPOINT_LENGTH,
            help_text="The push service URL: https, on a public host (not loopback, private or link-local).",
        ),
    )


class _SubscribeResult(NamedTuple):
    endpoint: str
    keys: tuple[str, str]


_SUBSCRIBE = Input(
    "PushSubscription",
    _SubscribeResult,
    endpoint=_endpoint_field(),
    keys=Field(check_keys, _KeysSerializer(help_text="The subscription's keys.")),
)


def _check_any_endpoint(field: str, value: object) -> str:
    # Deleting needs no address check: it sends nothing, and a stored endpoint
    # whose host has since moved must still be removable.
    if not isinstance(value, str) or not value or len(value) > MAX_ENDPOINT_LENGTH:
        raise InvalidInput.field(field, f"Must be a URL of at most {MAX_ENDPOINT_LENGTH} characters.")
    return value


UNSUBSCRIBE = Input(
    "PushUnsubscribe",
    Unsubscribe,
    endpoint=Field(
        _check_any_endpoint,
        serializers.CharField(max_length=MAX_ENDPOINT_LENGTH, help_text="The endpoint of the subscription to delete."),
    ),
)


def parse_subscribe(data: dict) -> Subscribe:
    parsed = _SUBSCRIBE.parse(data)
    return Subscribe(parsed.endpoint, *parsed.keys)


SUBSCRIBE_SERIALIZER = _SUBSCRIBE.serializer()
