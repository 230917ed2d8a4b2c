"""Uploaded avatars: check and re-encode the image, store it, serve it in development.

An upload is decoded with Pillow whatever its name or content type claims:
PNG, JPEG, GIF or WebP only, at most ``CHAT_AVATAR_MAX_BYTES`` and
``CHAT_AVATAR_MAX_PIXELS`` (checked from the header, before any pixel is
decoded: a decompression bomb is refused unread). Only the first frame of an
animation is kept; the EXIF orientation is applied, then every piece of
metadata (EXIF, ICC profile, text chunks) is dropped by copying the pixels
alone into a new image, which is shrunk to fit ``CHAT_AVATAR_SIZE`` square
and stored as PNG under ``avatars/<user_id>/<random>.png`` through Django's
storage API (``STORAGES["avatars"]`` if configured, else the default storage:
MEDIA_ROOT). The file's URL becomes the user's ``avatar_url``
(``profiles.services.upload_avatar``).

Names are random and never reused, so a file never changes once written: the
previous one is deleted when the avatar changes, and caches may keep a file
forever. ``serve_media`` serves ``MEDIA_URL/avatars/…`` when the server serves
its own files (``CHAT_SERVE_STATIC``, development); in production the reverse
proxy serves MEDIA_ROOT at MEDIA_URL.
"""

import io
import logging
import re
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage, storages
from django.http import FileResponse, Http404, HttpRequest, HttpResponseNotAllowed
from django.urls import re_path
from PIL import Image

from chat_project.common import images
from chat_project.common.errors import InvalidInput
from chat_project.common.images import PayloadTooLarge

logger = logging.getLogger(__name__)

__all__ = ["PayloadTooLarge", "render_avatar"]

# What stored files can be, and the content type each is served with.
CONTENT_TYPES = {"png": "image/png", "webp": "image/webp"}
# A stored avatar's name: the only files serve_media serves or delete_uploaded removes.
_STORED_NAME = re.compile(r"avatars/([0-9]+)/[A-Za-z0-9_-]{1,64}\.(png|webp)")


def storage() -> Storage:
    """Where avatars are stored: ``STORAGES["avatars"]`` when configured, else the default storage."""
    return storages["avatars"] if "avatars" in settings.STORAGES else default_storage


def _invalid(message: str) -> InvalidInput:
    return InvalidInput.field("avatar", message)


def render_avatar(upload) -> bytes:
    """The PNG to store for an uploaded file (any file-like object with ``size``), or a refusal.

    Refusals: ``payload_too_large`` over CHAT_AVATAR_MAX_BYTES; ``validation_error``
    (``errors.avatar``) for anything that is not a PNG, JPEG, GIF or WebP image of
    at most CHAT_AVATAR_MAX_PIXELS that decodes cleanly.
    """
    limit = settings.CHAT_AVATAR_MAX_BYTES
    if upload.size > limit:
        raise PayloadTooLarge(f"The avatar is larger than {limit} bytes.")
    if upload.size == 0:
        raise _invalid("The file is empty.")
    max_pixels = settings.CHAT_AVATAR_MAX_PIXELS
    with images.open_image(upload, max_pixels, _invalid) as image:
        return images.decode(image, _reencode, max_pixels, _invalid)


def _reencode(image: Image.Image) -> bytes:
    side = settings.CHAT_AVATAR_SIZE
    # An animation: its first frame (the one open() positions on) and nothing else.
    if image.format == "JPEG":
        # Decode a large JPEG at 1/2, 1/4 or 1/8 scale right away (still at least ``side``).
        image.draft("RGB" if image.mode not in ("L", "CMYK") else image.mode, (side, side))
    frame = images.to_rgb_or_rgba(images.upright(image))
    frame.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    images.pixels_only(frame).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def store(user_id: int, data: bytes) -> str:
    """Write one rendered avatar; its storage name (``avatars/<user_id>/<random>.png``)."""
    name = f"avatars/{user_id}/{secrets.token_urlsafe(18)}.png"
    return storage().save(name, ContentFile(data))


def url_of(name: str) -> str:
    return storage().url(name)


def uploaded_name(user_id: int, url: str) -> str | None:
    """The storage name behind ``url`` if it is one of this user's uploaded avatars, else None."""
    prefix = storage().url(f"avatars/{user_id}/")
    if not url or not url.startswith(prefix):
        return None
    name = f"avatars/{user_id}/" + url[len(prefix) :]
    match = _STORED_NAME.fullmatch(name)
    return name if match and int(match.group(1)) == user_id else None


def delete_uploaded(user_id: int, url: str) -> None:
    """Delete the file behind ``url`` if it is one of this user's uploaded avatars (never anything else)."""
    name = uploaded_name(user_id, url)
    if name is None:
        return
    try:
        storage().delete(name)
    except Exception:
        logger.warning("could not delete the previous avatar %s of user %s", name, user_id, exc_info=True)


def discard(name: str) -> None:
    """Delete a file just stored whose avatar change failed."""
    try:
        storage().delete(name)
    except Exception:
        logger.warning("could not delete the unused avatar %s", name, exc_info=True)


def serve_media(request: HttpRequest, path: str):
    """``MEDIA_URL/<path>`` in development: stored avatars only, with a fixed image content type.

    Anything but ``avatars/<id>/<name>.png|webp`` is a 404, as is every path when
    the server does not serve its own files (CHAT_SERVE_STATIC off: the reverse
    proxy serves MEDIA_ROOT).
    """
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    match = _STORED_NAME.fullmatch(path)
    if not settings.CHAT_SERVE_STATIC or match is None:
        raise Http404("No such file.")
    files = storage()
    try:
        handle = files.open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise Http404("No such file.") from None
    response = FileResponse(handle, content_type=CONTENT_TYPES[match.group(2)])
    response.headers["Content-Disposition"] = "inline"
    # Never sniffed; even opened directly, the file can run nothing.
    for name, value in images.SAFE_FILE_HEADERS.items():
        response.headers[name] = value
    # A stored file never changes (a new avatar gets a new name).
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def media_urlpatterns() -> list:
    """The route of ``serve_media``: MEDIA_URL when it is a path on this server (none for another host)."""
    prefix = settings.MEDIA_URL
    if not prefix.startswith("/") or prefix.startswith("//") or prefix == "/":
        return []
    return [re_path("^" + re.escape(prefix.lstrip("/")) + "(?P<path>.*)$", serve_media)]
