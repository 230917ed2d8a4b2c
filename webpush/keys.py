"""The server's VAPID key (RFC 8292): made on first use, kept in the database, cached per process."""

import base64
import threading

from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction
from py_vapid import Vapid02  # type: ignore[import-untyped]  # no stubs, no py.typed

from .models import VapidKey

_lock = threading.Lock()
_cached: Vapid02 | None = None


def vapid() -> Vapid02:
    """The key pair every node signs with; the first node to need it makes it."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = Vapid02.from_pem(_load_or_create().encode())
        return _cached


def application_server_key() -> str:
    """The public key as browsers take it (``applicationServerKey``): the uncompressed point, base64url."""
    point = vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def forget_cached_key() -> None:
    """Tests: the next ``vapid()`` reads the database again."""
    global _cached
    with _lock:
        _cached = None


def _load_or_create() -> str:
    row = VapidKey.objects.filter(pk=VapidKey.SINGLETON).first()
    if row is not None:
        return row.private_key_pem
    fresh = Vapid02()
    fresh.generate_keys()
    pem = fresh.private_pem().decode()
    try:
        with transaction.atomic():
            VapidKey.objects.create(pk=VapidKey.SINGLETON, private_key_pem=pem)
        return pem
    except IntegrityError:
        # Another node made it first: everyone uses that one.
        return VapidKey.objects.get(pk=VapidKey.SINGLETON).private_key_pem
