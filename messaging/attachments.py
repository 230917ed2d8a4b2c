"""Attachments (PROTOCOL.md 1.2): upload, access, the send path's claim, payloads, clean-up.

An upload's type is decided by its first bytes, never by its name or declared
type: JPEG, PNG, GIF and WebP signatures make it an image, which must then
decode (``chat_project.common.images``: Pillow, pixel limit read from the
header, metadata dropped by copying the pixels alone) or the upload is a
``validation_error``: a file that says it is an image and is not one is
damaged or hostile, and guessing would store something no client can show.
Anything else is a ``file``, stored byte for byte and only ever served as
``application/octet-stream`` for download. GIFs keep their first frame only,
stored as PNG (bounded decoding work: a GIF's frames multiply it; the name's
extension becomes ``.png``).

Files go through Django's storage API (``STORAGES["attachments"]`` when
configured, else the default storage) under random keys that name neither the
uploader nor the conversation. The row is written only after every file is
stored, and a failure deletes what was stored: no half-stored upload is left
behind. Deleting goes the other way: files first, then the row, so a crash in
between leaves a row the sweeper finds again, never an orphan file.
"""

import hashlib
import io
import logging
import os
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, default_storage, storages
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from PIL import Image

from chat_project.common import images
from chat_project.common.errors import InvalidInput, NotFound
from chat_project.common.images import PayloadTooLarge

from .models import Attachment, AttachmentKind, MessageStatus
from .validation import MAX_ATTACHMENTS

logger = logging.getLogger(__name__)

MAX_PER_MESSAGE = MAX_ATTACHMENTS
MAX_NAME = 255
THUMBNAIL_SIDE = 320
# A longer "extension" is part of the name, not an extension worth keeping.
MAX_EXTENSION = 16
FILE_CONTENT_TYPE = "application/octet-stream"
# Format found by the signature -> (format stored, content type, extension).
_STORED_AS = {
    "JPEG": ("JPEG", "image/jpeg", None),
    "PNG": ("PNG", "image/png", None),
    "GIF": ("PNG", "image/png", ".png"),
    "WEBP": ("WEBP", "image/webp", None),
}
_SAVE_OPTIONS: dict[str, dict] = {"JPEG": {"quality": 90}, "PNG": {}, "WEBP": {"quality": 90}}


def storage() -> Storage:
    """Where attachments are stored: ``STORAGES["attachments"]`` when configured, else the default storage."""
    return storages["attachments"] if "attachments" in settings.STORAGES else default_storage


def _invalid(message: str) -> InvalidInput:
    return InvalidInput.field("file", message)


# --- upload ----------------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """The image format whose signature ``head`` starts with (Pillow's name), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def clean_name(raw: str, extension: str | None = None) -> str:
    """The file name to show: no path, no control or format characters (bidi overrides), at most 255 code points.

    The extension is kept when the name is shortened; ``extension`` replaces it (a GIF stored as PNG).
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs")).strip()
    if name in ("", ".", ".."):
        name = "file"
    stem, ext = os.path.splitext(name)
    if len(ext) > MAX_EXTENSION:
        stem, ext = name, ""
    if extension is not None:
        ext = extension
    return (stem or "file")[: MAX_NAME - len(ext)] + ext


def upload_limits() -> dict:
    """What a client may check before uploading (``GET attachments/limits``, an extension of 1.2): the
    same settings ``upload_attachment`` and the send path's claim enforce."""
    return {
        "max_bytes": settings.CHAT_ATTACHMENT_MAX_BYTES,
        "max_image_pixels": settings.CHAT_ATTACHMENT_MAX_PIXELS,
        "max_per_message": MAX_PER_MESSAGE,
    }


def upload_attachment(uploader_id: int, upload: File) -> dict:
    """Store one uploaded file (a Django ``UploadedFile`` or any ``File``); its Attachment dict.

    Refusals: ``payload_too_large`` over CHAT_ATTACHMENT_MAX_BYTES; ``validation_error``
    (``errors.file``) for an empty file, or one whose first bytes say JPEG, PNG, GIF or WebP
    that is not a whole image of at most CHAT_ATTACHMENT_MAX_PIXELS.
    """
    limit = settings.CHAT_ATTACHMENT_MAX_BYTES
    size = upload.size or 0
    if size > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.")
    if size == 0:
        raise _invalid("The file is empty.")
    upload.seek(0)
    image_format = sniff(upload.read(16))
    upload.seek(0)
    if image_format is None:
        fields: dict = {"kind": AttachmentKind.FILE, "content_type": FILE_CONTENT_TYPE, "size": size}
        name = clean_name(upload.name or "")
        rendered = None
    else:
        rendered = _render_image(upload, image_format)
        _, content_type, extension = _STORED_AS[image_format]
        fields = {
            "kind": AttachmentKind.IMAGE,
            "content_type": content_type,
            "size": len(rendered[0]),
            "width": rendered[2],
            "height": rendered[3],
        }
        name = clean_name(upload.name or "", extension)
    files = storage()
    stored: list[str] = []
    try:
        if rendered is None:
            stored.append(files.save(_new_key(), upload))
        else:
            stored.append(files.save(_new_key(), ContentFile(rendered[0])))
            stored.append(files.save(_new_key(), ContentFile(rendered[1])))
            fields["thumbnail_key"] = stored[1]
        row = Attachment.objects.create(
            uploader_id=uploader_id, storage_key=stored[0], name=name, created_at=timezone.now(), **fields
        )
    except BaseException:
        _delete_files(stored)
        raise
    return attachment_dict(row)


def _new_key() -> str:
    return f"attachments/{secrets.token_urlsafe(24)}"


def _render_image(upload: File, image_format: str) -> tuple[bytes, bytes, int, int]:
    """(image, thumbnail, width, height): the upload decoded and re-encoded without metadata, or a refusal."""
    max_pixels = settings.CHAT_ATTACHMENT_MAX_PIXELS
    stored_format = _STORED_AS[image_format][0]

    def render(image: Image.Image) -> tuple[bytes, bytes, int, int]:
        # An animation: its first frame (the one open() positions on) and nothing else.
        decoded = images.to_rgb_or_rgba(images.upright(image))
        frame = images.pixels_only(decoded)
        # Free the decoded pixels now: at the peak, two copies of the image, not three.
        decoded.close()
        image.close()
        if stored_format == "JPEG" and frame.mode == "RGBA":
            frame = frame.convert("RGB")
        width, height = frame.size
        full = _encode(frame, stored_format)
        frame.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        return full, _encode(frame, stored_format), width, height

    # Only the signature's format is tried: a PNG signature is never decoded as anything else.
    with images.open_image(upload, max_pixels, _invalid, formats=(image_format,)) as image:
        return images.decode(image, render, max_pixels, _invalid)


def _encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **_SAVE_OPTIONS[image_format])
    return buffer.getvalue()


# --- what clients see ---------------------------------------------------------------


def attachment_dict(row: Attachment) -> dict:
    """PROTOCOL.md 1.2's Attachment."""
    url = f"/api/v1/attachments/{row.pk}"
    return {
        "attachment_id": row.pk,
        "name": row.name,
        "size": row.size,
        "content_type": row.content_type,
        "kind": row.kind,
        "width": row.width,
        "height": row.height,
        "url": url,
        "thumbnail_url": f"{url}/thumbnail" if row.thumbnail_key else None,
    }


def get_attachment_for(user_id: int, attachment_id: int) -> Attachment:
    """The attachment if ``user_id`` may fetch it, else ``not_found`` (one query).

    The uploader always; once attached, both users of the message; nobody once
    the message is recalled. Everyone else gets the answer of an unknown id.
    """
    row = Attachment.objects.select_related("message").filter(pk=attachment_id).first()
    if row is None:
        raise NotFound("No such attachment.")
    message = row.message if row.message_id is not None else None
    if message is not None and message.record_status == MessageStatus.RECALLED:
        raise NotFound("No such attachment.")
    allowed = {row.uploader_id}
    if message is not None:
        allowed |= {message.sender_id, message.recipient_id}
    if user_id not in allowed:
        raise NotFound("No such attachment.")
    return row


def etag_of(key: str) -> str:
    """A strong ETag for a stored file (files never change); the key itself is never shown."""
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


# --- the send path --------------------------------------------------------------------


class Claim(NamedTuple):
    """One send's attachments, for ``claim_attachments_batch``."""

    sender_id: int
    attachment_ids: object  # as the client sent it: checked here
    conversation_id: int
    msg_id: int


def claim_attachments(sender_id: int, attachment_ids: object, conversation_id: int, msg_id: int) -> list[dict]:
    """Attach uploads to message ``msg_id``; their Attachment dicts, in the order given.

    Each must be the sender's own upload, not part of another message; at most
    10, none twice. Claiming the same ids again for the same ``msg_id`` (a
    retried send) succeeds and changes nothing. Anything else raises
    ``validation_error`` on ``attachments`` and claims nothing. Runs in the
    caller's transaction when there is one (the send's), locking the rows, so a
    concurrent claim or the sweeper cannot take them meanwhile.
    """
    (result,) = claim_attachments_batch([Claim(sender_id, attachment_ids, conversation_id, msg_id)])
    if isinstance(result, InvalidInput):
        raise result
    return result


def claim_attachments_batch(claims: Sequence[Claim]) -> list[list[dict] | InvalidInput]:
    """``claim_attachments`` for every send of a batch in two statements (lock, update), whatever its size.

    One answer per claim, in order: its Attachment dicts, or the ``InvalidInput``
    that send fails with alone (nothing of it claimed). Within the batch the
    first claim of an upload wins. Joins the caller's transaction without a
    savepoint: the rows stay locked until it commits.
    """
    results: list[list[dict] | InvalidInput] = []
    wanted: dict[int, list[int]] = {}  # claim index -> checked ids
    for index, claim in enumerate(claims):
        try:
            ids = _checked_ids(claim.attachment_ids)
        except InvalidInput as refused:
            results.append(refused)
            continue
        results.append([])
        if ids:
            wanted[index] = ids
    if not wanted:
        return results
    every_id = {attachment_id for ids in wanted.values() for attachment_id in ids}
    with transaction.atomic(savepoint=False):
        rows = {row.pk: row for row in Attachment.objects.select_for_update().filter(pk__in=every_id)}
        # Where each upload belongs once this batch is done: (msg_id, conversation_id) or (None, None).
        owner = {pk: (row.message_id, row.conversation_id) for pk, row in rows.items()}
        updates: dict[int, tuple[int, int]] = {}
        for index, ids in wanted.items():
            claim = claims[index]
            error = _claim_error(claim, ids, rows, owner)
            if error is not None:
                results[index] = error
                continue
            for attachment_id in ids:
                if owner[attachment_id][0] is None:
                    owner[attachment_id] = updates[attachment_id] = (claim.msg_id, claim.conversation_id)
            results[index] = [attachment_dict(rows[attachment_id]) for attachment_id in ids]
        if updates:
            Attachment.objects.filter(pk__in=list(updates)).update(
                message_id=Case(*(When(pk=pk, then=Value(msg)) for pk, (msg, _) in updates.items())),
                conversation_id=Case(*(When(pk=pk, then=Value(conv)) for pk, (_, conv) in updates.items())),
            )
    return results


def _checked_ids(attachment_ids: object) -> list[int]:
    if not isinstance(attachment_ids, list | tuple) or any(type(item) is not int for item in attachment_ids):
        raise _invalid_claim("Must be a list of attachment ids.")
    if len(attachment_ids) > MAX_PER_MESSAGE:
        raise _invalid_claim(f"At most {MAX_PER_MESSAGE} attachments per message.")
    if len(set(attachment_ids)) != len(attachment_ids):
        raise _invalid_claim("An attachment may appear once.")
    return list(attachment_ids)


def _claim_error(
    claim: Claim, ids: list[int], rows: dict[int, Attachment], owner: dict[int, tuple]
) -> InvalidInput | None:
    for attachment_id in ids:
        row = rows.get(attachment_id)
        if row is None or row.uploader_id != claim.sender_id:
            return _invalid_claim(f"{attachment_id} is not an upload of yours (or it expired).")
        msg_id, conversation_id = owner[attachment_id]
        if msg_id is not None and (msg_id, conversation_id) != (claim.msg_id, claim.conversation_id):
            return _invalid_claim(f"{attachment_id} is already part of another message.")
    return None


def _invalid_claim(message: str) -> InvalidInput:
    return InvalidInput.field("attachments", message)


def attachments_of(msg_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Every message's Attachment dicts (``[]`` when none), in upload order, in one query."""
    wanted = list(msg_ids)
    result: dict[int, list[dict]] = {msg_id: [] for msg_id in wanted}
    if wanted:
        for row in Attachment.objects.filter(message_id__in=wanted).order_by("message_id", "pk"):
            result[int(row.message_id or 0)].append(attachment_dict(row))
    return result


def attachments_summary(attachments: Sequence[dict]) -> str:
    """What stands for a message without text in a notification: "📷 Photo", "📷 3 photos", "📎 minutes.pdf".

    The same words as the browser's conversation list (static/chat/attachments.js).
    """
    if not attachments:
        return ""
    images = sum(1 for a in attachments if a["kind"] == "image")
    if images == len(attachments):
        return "📷 Photo" if images == 1 else f"📷 {images} photos"
    first = next(a for a in attachments if a["kind"] != "image")
    more = len(attachments) - 1
    return f"📎 {first['name']}" + (f" and {more} more" if more else "")


# --- clean-up ------------------------------------------------------------------------------


def delete_attachments_of(msg_id: int) -> int:
    """Delete a recalled message's attachments, files first (run after the recall commits)."""
    return _delete_rows(list(Attachment.objects.filter(message_id=msg_id)))


def sweep_attachments(now: datetime | None = None, limit: int = 500) -> int:
    """Delete uploads never attached within CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS, and a recalled message's.

    The second catches what a recall's own clean-up missed (a crash, a storage
    error). ``now`` is the clock (tests pass one); at most ``limit`` of each
    kind per run. The number of attachments deleted.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS)
    with transaction.atomic():
        # Locked, so a send claiming one of them now waits and then finds it gone (or
        # the sweep skips it): an upload is never deleted under a message.
        expired = list(
            Attachment.objects.select_for_update(skip_locked=True)
            .filter(message__isnull=True, created_at__lt=cutoff)
            .order_by("created_at")[:limit]
        )
        deleted = _delete_rows(expired)
    recalled = Attachment.objects.filter(message__record_status=MessageStatus.RECALLED).order_by("pk")[:limit]
    return deleted + _delete_rows(list(recalled))


def _delete_rows(rows: list[Attachment]) -> int:
    gone = [row.pk for row in rows if _delete_files([row.storage_key, row.thumbnail_key])]
    if gone:
        Attachment.objects.filter(pk__in=gone).delete()
    return len(gone)


def _delete_files(keys: list[str]) -> bool:
    """Delete stored files (empty keys skipped); False if one could not be deleted (left for the sweeper)."""
    files = storage()
    ok = True
    for key in filter(None, keys):
        try:
            files.delete(key)
        except Exception:
            logger.warning("could not delete the attachment file %s", key, exc_info=True)
            ok = False
    return ok
