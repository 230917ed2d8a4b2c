"""Attachments (PROTOCOL.md 1.2): upload, the bytes behind the access check, the send path's claim, clean-up.

Over REST with the real MariaDB and Redis; each test stores its files in its
own MEDIA_ROOT. A message gets its attachments from the send itself
(tests/test_send_attachments.py covers the send path's rules); the claim's
own rules are tested here on ``claim_attachments`` directly.
"""

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.utils import timezone
from PIL import Image

from messaging import attachments
from messaging.attachments import attachments_of, claim_attachments, clean_name, get_attachment_for
from messaging.models import Attachment
from profiles.models import User

from .conftest import API, PASSWORD, ApiUser
from .test_avatars import gif_animation, jpeg, one_bit_png, png, png_header_claiming

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    return root


def upload(user: ApiUser, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg", client=None):
    client = client or user.client
    return client.post(API + "attachments", {"file": SimpleUploadedFile(name, data, content_type)}, format="multipart")


def uploaded(user: ApiUser, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> dict:
    response = upload(user, data, name, content_type)
    assert response.status_code == 201, response.content
    return response.json()


def fetch(client, url: str, **headers):
    response = client.get(url, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


def assert_invalid(response, field: str = "file") -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and body["errors"][field], body
    return body["errors"][field][0]


def assert_nothing_stored(media: Path) -> None:
    assert Attachment.objects.count() == 0
    assert stored_files(media) == []


def attach(sender: ApiUser, recipient: ApiUser, ids: list[int], content: str = "see attached") -> dict:
    """A message carrying ``ids``, sent over REST."""
    return sender.send(recipient, content, attachments=ids)


# --- images ------------------------------------------------------------------------


def test_jpeg_upload_is_an_image_without_its_exif(media, alice):
    original = jpeg(size=(1200, 900))
    assert Image.open(io.BytesIO(original)).getexif()  # the upload carries a camera make and a GPS position
    body = uploaded(alice, original, name="holiday.jpg", content_type="text/plain")
    attachment_id = body["attachment_id"]
    assert body == {
        "attachment_id": attachment_id,
        "name": "holiday.jpg",
        "size": body["size"],
        "content_type": "image/jpeg",
        "kind": "image",
        "width": 1200,
        "height": 900,
        "url": f"/api/v1/attachments/{attachment_id}",
        "thumbnail_url": f"/api/v1/attachments/{attachment_id}/thumbnail",
    }
    response, data = fetch(alice.client, body["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Content-Disposition"] == 'inline; filename="holiday.jpg"'
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["ETag"].startswith('"') and response["Accept-Ranges"] == "bytes"
    assert len(data) == body["size"] == int(response["Content-Length"])
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1200, 900)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"SpyCam" not in data
    r, g, b = image.getpixel((600, 450))
    assert abs(r - 20) < 8 and abs(g - 160) < 8 and abs(b - 40) < 8

    response, thumb = fetch(alice.client, body["thumbnail_url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb)).size == (320, 240)
    assert response["ETag"] != fetch(alice.client, body["url"])[0]["ETag"]


def test_stored_names_are_random_and_reveal_no_user(media, alice):
    body = uploaded(alice, png(text={"Comment": "secret"}), name="a.png", content_type="image/png")
    row = Attachment.objects.get(pk=body["attachment_id"])
    for key in (row.storage_key, row.thumbnail_key):
        # One flat folder of 192-bit random tokens: no user, conversation or name in them.
        assert re.fullmatch(r"attachments/[A-Za-z0-9_-]{32}", key), key
    assert len(stored_files(media)) == 2
    _, data = fetch(alice.client, body["url"])
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and not image.text  # the text chunk is gone
    assert b"secret" not in data


def test_gif_animation_keeps_its_first_frame_as_png(media, alice):
    body = uploaded(alice, gif_animation(), name="dance.gif", content_type="image/gif")
    assert (body["name"], body["content_type"], body["width"], body["height"]) == ("dance.png", "image/png", 64, 64)
    _, data = fetch(alice.client, body["url"])
    image = Image.open(io.BytesIO(data))
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((32, 32)) == (255, 0, 0)


def test_webp_and_small_images_are_not_enlarged(media, alice):
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 20), (1, 2, 3, 128)).save(buffer, "WEBP", lossless=True)
    body = uploaded(alice, buffer.getvalue(), name="tiny.webp", content_type="image/webp")
    assert (body["content_type"], body["width"], body["height"]) == ("image/webp", 40, 20)
    _, thumb = fetch(alice.client, body["thumbnail_url"])
    assert Image.open(io.BytesIO(thumb)).size == (40, 20)


# --- files -------------------------------------------------------------------------------


def test_a_pdf_named_jpg_is_a_file_served_for_download_byte_for_byte(media, alice):
    body = uploaded(alice, PDF, name="cat.jpg", content_type="image/jpeg")
    assert body["kind"] == "file" and body["content_type"] == "application/octet-stream"
    assert (body["width"], body["height"], body["thumbnail_url"], body["size"]) == (None, None, None, len(PDF))
    assert body["name"] == "cat.jpg"
    response, data = fetch(alice.client, body["url"])
    assert data == PDF
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="cat.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    thumb = alice.get(f"attachments/{body['attachment_id']}/thumbnail")
    assert thumb.status_code == 404 and thumb.json()["code"] == "not_found"


def test_html_is_a_file_too(media, alice):
    body = uploaded(alice, b"<html><script>alert(1)</script></html>", name="x.html", content_type="text/html")
    response, _ = fetch(alice.client, body["url"])
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_large_file_goes_through_a_temporary_file(media, alice, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    body = uploaded(alice, data, name="blob.bin", content_type="application/octet-stream")
    assert body["size"] == len(data)
    assert fetch(alice.client, body["url"])[1] == data


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\eve\\report.pdf", "report.pdf"),
        ("/abs/path/to/a.txt", "a.txt"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a right-to-left override would show "exe.jpg"
        ("", "file"),
        ("..", "file"),
        ("   ", "file"),
        ("x" * 300 + ".txt", "x" * 251 + ".txt"),
        ("y" * 300, "y" * 255),
        ("z" * 10 + "." + "e" * 30, ("z" * 10 + "." + "e" * 30)),
    ],
)
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean
    assert len(clean_name(raw)) <= 255


def test_names_over_rest_lose_paths_and_control_characters_and_are_capped(media, alice):
    assert uploaded(alice, PDF, name="../../secret/notes.txt")["name"] == "notes.txt"
    assert uploaded(alice, PDF, name="tab\there.txt")["name"] == "tabhere.txt"
    long = uploaded(alice, PDF, name="n" * 300 + ".pdf")["name"]
    assert len(long) == 255 and long.endswith(".pdf")


# --- refusals: a clear error, and nothing half-stored ---------------------------------------


def test_png_signature_with_garbage_is_refused(media, alice):
    message = assert_invalid(upload(alice, b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, name="a.png"))
    assert "PNG, JPEG, GIF or WebP" in message
    assert_nothing_stored(media)


def test_truncated_images_are_refused(media, alice):
    assert "damaged" in assert_invalid(upload(alice, jpeg(size=(800, 600))[:2000]))
    assert_invalid(upload(alice, png(size=(600, 400))[:300], name="a.png"))
    assert_nothing_stored(media)


@pytest.mark.parametrize("size", [(30000, 30000), (1, 2**31 - 1)])
def test_decompression_bomb_is_refused_unread(media, alice, size):
    assert "pixels" in assert_invalid(upload(alice, png_header_claiming(*size), name="bomb.png"))
    assert_nothing_stored(media)


def test_over_the_pixel_limit_is_refused(media, alice, settings):
    settings.CHAT_ATTACHMENT_MAX_PIXELS = 1_000_000
    assert "1000000 pixels" in assert_invalid(upload(alice, one_bit_png(2000, 2000), name="big.png"))
    assert_nothing_stored(media)


def test_empty_missing_two_files_and_json_are_refused(media, alice):
    assert "empty" in assert_invalid(upload(alice, b"", name="nothing.txt"))
    assert_invalid(alice.client.post(API + "attachments", {}, format="multipart"))
    assert_invalid(alice.client.post(API + "attachments", {"file": "not a file"}, format="multipart"))
    two = [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]
    assert "one file" in assert_invalid(alice.client.post(API + "attachments", {"file": two}, format="multipart"))
    response = alice.post("attachments", {"file": "aGVsbG8="})
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    assert_nothing_stored(media)


def test_over_the_byte_limit_is_413(media, alice, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000
    response = upload(alice, PDF * 20, name="big.pdf")
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert_nothing_stored(media)


def test_the_limits_are_published_as_configured_and_enforced(media, alice, bob, anonymous, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000
    settings.CHAT_ATTACHMENT_MAX_PIXELS = 1_000_000
    response = alice.get("attachments/limits")
    assert response.status_code == 200
    limits = response.json()
    assert limits == {"max_bytes": 1000, "max_image_pixels": 1_000_000, "max_per_message": 10}

    # What it says is what the upload and the send enforce.
    assert upload(alice, b"x" * limits["max_bytes"], name="just-right.bin").status_code == 201
    assert upload(alice, b"x" * (limits["max_bytes"] + 1), name="too-big.bin").status_code == 413
    assert upload(alice, one_bit_png(1000, 1000), name="square.png").status_code == 201
    assert "1000000 pixels" in assert_invalid(upload(alice, one_bit_png(1001, 1000), name="wide.png"))
    ids = [uploaded(alice, b"%d" % i, name=f"{i}.txt")["attachment_id"] for i in range(limits["max_per_message"] + 1)]
    too_many = alice.post("messages", {"to": bob.id, "content": "", "attachments": ids})
    assert_invalid(too_many, "attachments")
    assert alice.post("messages", {"to": bob.id, "content": "", "attachments": ids[:-1]}).status_code == 201

    refused = anonymous.get(API + "attachments/limits")
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"


def test_a_failing_row_insert_leaves_no_file(media, alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(Attachment.objects, "create", broken)
    response = upload(alice, jpeg())
    assert response.status_code == 500 and response.json()["code"] == "server_error"
    assert stored_files(media) == []


def test_unauthenticated_is_401(media, anonymous, alice):
    response = anonymous.post(API + "attachments", {"file": SimpleUploadedFile("a.txt", b"a")}, format="multipart")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    body = uploaded(alice, PDF)
    assert anonymous.get(body["url"]).status_code == 401
    assert anonymous.get(body["url"] + "/thumbnail").status_code == 401


def test_uploads_are_rate_limited_per_user(media, alice, bob, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_ATTACHMENT_RATE = (2, 3600)
    for _ in range(2):
        assert upload(alice, PDF).status_code == 201
    refused = upload(alice, PDF)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert upload(bob, PDF).status_code == 201
    assert Attachment.objects.filter(uploader_id=alice.id).count() == 2


def test_trailing_slashes(media, alice):
    response = alice.client.post(
        API + "attachments/", {"file": SimpleUploadedFile("a.txt", b"abc")}, format="multipart"
    )
    assert response.status_code == 201
    url = response.json()["url"]
    assert fetch(alice.client, url + "/")[1] == b"abc"


# --- who may fetch -------------------------------------------------------------------------


def test_access_uploader_then_both_users_then_nobody_after_recall(media, alice, bob, carol):
    image = uploaded(alice, jpeg())
    file = uploaded(alice, PDF, name="doc.pdf")
    urls = [image["url"], image["thumbnail_url"], file["url"]]
    for url in urls:
        assert fetch(alice.client, url)[0].status_code == 200
        for stranger in (bob, carol):
            response = stranger.client.get(url)
            assert response.status_code == 404 and response.json()["code"] == "not_found"

    message = attach(alice, bob, [image["attachment_id"], file["attachment_id"]])
    for url in urls:
        assert fetch(alice.client, url)[0].status_code == 200
        assert fetch(bob.client, url)[0].status_code == 200
        assert carol.client.get(url).status_code == 404
    assert alice.get("attachments/999999999").status_code == 404

    assert alice.delete(f"messages/{message['msg_id']}").status_code == 204
    for url in urls:
        for user in (alice, bob, carol):
            assert user.client.get(url).status_code == 404
    # The recall deleted the files and the rows once it committed.
    assert_nothing_stored(media)


def test_get_attachment_for_is_the_one_check(media, alice, bob, carol):
    attachment_id = uploaded(alice, PDF)["attachment_id"]
    assert get_attachment_for(alice.id, attachment_id).pk == attachment_id
    with pytest.raises(attachments.NotFound):
        get_attachment_for(bob.id, attachment_id)
    attach(alice, bob, [attachment_id])
    assert get_attachment_for(bob.id, attachment_id).pk == attachment_id
    with pytest.raises(attachments.NotFound):
        get_attachment_for(carol.id, attachment_id)
    with pytest.raises(attachments.NotFound):
        get_attachment_for(alice.id, attachment_id + 1000)


def test_session_authentication_serves_an_img(media, alice):
    body = uploaded(alice, jpeg())
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    response, data = fetch(browser, body["thumbnail_url"], accept="image/avif,image/webp,image/*")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(data)).width == 320


# --- ranges and caching ----------------------------------------------------------------------


def test_ranges(media, alice):
    data = bytes(range(256)) * 40  # 10240 bytes
    url = uploaded(alice, data, name="data.bin")["url"]
    response, body = fetch(alice.client, url, range="bytes=0-99")
    assert response.status_code == 206 and body == data[:100]
    assert response["Content-Range"] == "bytes 0-99/10240" and response["Content-Length"] == "100"
    response, body = fetch(alice.client, url, range="bytes=10000-")
    assert response.status_code == 206 and body == data[10000:]
    assert response["Content-Range"] == "bytes 10000-10239/10240"
    response, body = fetch(alice.client, url, range="bytes=-40")
    assert response.status_code == 206 and body == data[-40:]
    response, body = fetch(alice.client, url, range="bytes=10200-99999")
    assert response.status_code == 206 and body == data[10200:]
    response, body = fetch(alice.client, url, range="bytes=-999999")
    assert response.status_code == 206 and body == data
    for unsatisfiable in ("bytes=10240-", "bytes=20000-20010", "bytes=-0"):
        response = alice.client.get(url, headers={"range": unsatisfiable})
        assert response.status_code == 416, unsatisfiable
        assert response["Content-Range"] == "bytes */10240"
        assert response.json()["code"] == "range_not_satisfiable"
    # Ignored: several ranges, another unit, nonsense, a reversed range: the whole file.
    for ignored in ("bytes=0-1,5-9", "items=0-1", "bytes=abc", "bytes=9-3", "bytes=-", "bytes=" + "9" * 40 + "-"):
        response, body = fetch(alice.client, url, range=ignored)
        assert response.status_code == 200 and body == data, ignored
    etag = response["ETag"]
    response, body = fetch(alice.client, url, range="bytes=0-9", if_range=etag)
    assert response.status_code == 206 and body == data[:10]
    response, body = fetch(alice.client, url, range="bytes=0-9", if_range='"another"')
    assert response.status_code == 200 and body == data
    response = alice.client.get(url, headers={"if-none-match": etag})
    assert response.status_code == 304 and response["ETag"] == etag


def test_head_answers_headers_only(media, alice):
    url = uploaded(alice, PDF)["url"]
    response = alice.client.head(url)
    assert response.status_code == 200 and response["Content-Length"] == str(len(PDF))
    assert response.content == b""


# --- the send path's services ----------------------------------------------------------------


def test_claim_attachments_rules(media, alice, bob):
    mine = [uploaded(alice, PDF)["attachment_id"] for _ in range(11)]
    theirs = uploaded(bob, PDF)["attachment_id"]
    message = alice.send(bob, "x")
    conv, msg = message["conversation_id"], message["msg_id"]

    def refused(ids) -> str:
        with pytest.raises(attachments.InvalidInput) as caught:
            claim_attachments(alice.id, ids, conv, msg)
        assert caught.value.errors and caught.value.errors["attachments"]
        return caught.value.errors["attachments"][0]

    assert "At most 10" in refused(mine)
    assert "not an upload of yours" in refused([mine[0], theirs])
    assert "not an upload of yours" in refused([999999999])
    assert "once" in refused([mine[0], mine[0]])
    assert "list" in refused("1,2")
    assert "list" in refused([True])
    assert "list" in refused(["1"])
    # Nothing was claimed by the refusals.
    assert Attachment.objects.filter(message__isnull=False).count() == 0
    assert claim_attachments(alice.id, [], conv, msg) == []

    claimed = claim_attachments(alice.id, mine[:2], conv, msg)
    assert [a["attachment_id"] for a in claimed] == mine[:2]
    # Again for the same message (a retried send): the same answer, nothing changes.
    assert claim_attachments(alice.id, mine[:2], conv, msg) == claimed
    other = alice.send(bob, "y")
    with pytest.raises(attachments.InvalidInput) as caught:
        claim_attachments(alice.id, [mine[1], mine[2]], other["conversation_id"], other["msg_id"])
    assert "already part of another message" in caught.value.errors["attachments"][0]
    assert Attachment.objects.get(pk=mine[2]).message_id is None
    assert set(Attachment.objects.filter(message_id=msg).values_list("pk", flat=True)) == set(mine[:2])
    assert Attachment.objects.get(pk=mine[0]).conversation_id == conv


def test_attachments_of_is_one_query(media, alice, bob, django_assert_num_queries):
    first = [uploaded(alice, jpeg())["attachment_id"], uploaded(alice, PDF)["attachment_id"]]
    second = [uploaded(alice, PDF)["attachment_id"]]
    one = attach(alice, bob, first)["msg_id"]
    two = attach(alice, bob, second)["msg_id"]
    bare = alice.send(bob, "none")["msg_id"]
    with django_assert_num_queries(1):
        result = attachments_of([one, two, bare])
    assert [a["attachment_id"] for a in result[one]] == first
    assert [a["attachment_id"] for a in result[two]] == second
    assert result[bare] == []
    assert result[one][0]["kind"] == "image" and result[one][1]["kind"] == "file"
    assert attachments_of([]) == {}


# --- clean-up -----------------------------------------------------------------------------------


def test_sweep_deletes_unattached_uploads_after_the_ttl_only(media, alice, bob, settings):
    settings.CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS = 24 * 3600
    stale = uploaded(alice, jpeg())["attachment_id"]
    attached = uploaded(alice, PDF)["attachment_id"]
    attach(alice, bob, [attached])
    now = timezone.now()
    assert attachments.sweep_attachments(now=now + timedelta(hours=23)) == 0
    assert Attachment.objects.count() == 2
    assert attachments.sweep_attachments(now=now + timedelta(hours=24, seconds=1)) == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [attached]
    assert len(stored_files(media)) == 1  # the image and its thumbnail are gone
    assert alice.get(f"attachments/{stale}").status_code == 404
    assert fetch(bob.client, f"/api/v1/attachments/{attached}")[1] == PDF


def test_sweep_deletes_what_a_recall_left_behind(media, alice, bob, monkeypatch):
    attachment_id = uploaded(alice, PDF)["attachment_id"]
    message = attach(alice, bob, [attachment_id])
    # The recall's own clean-up fails (a storage outage): the sweeper finds the files later.
    monkeypatch.setattr(attachments, "delete_attachments_of", lambda msg_id: 1 / 0)
    assert alice.delete(f"messages/{message['msg_id']}").status_code == 204
    assert Attachment.objects.count() == 1 and len(stored_files(media)) == 1
    assert alice.get(f"attachments/{attachment_id}").status_code == 404
    assert attachments.sweep_attachments() == 1
    assert_nothing_stored(media)


def test_the_sweeper_is_scheduled_on_the_delayed_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-attachments"]
    assert entry["task"] == "messaging.tasks.sweep_attachments"
    assert entry["options"]["queue"] == "delayed"
    assert settings.CELERY_TASK_ROUTES["messaging.tasks.sweep_attachments"] == {"queue": "delayed"}


def test_the_sweeper_runs_on_a_real_worker(media, celery_worker, alice):
    from messaging.tasks import sweep_attachments

    stale = uploaded(alice, PDF)["attachment_id"]
    fresh = uploaded(alice, PDF)["attachment_id"]
    # A day and a second old: the clock moved on (rows' creation time, not the sweeper's clock).
    Attachment.objects.filter(pk=stale).update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    sweep_attachments.apply_async(queue="delayed")
    from .conftest import wait_for

    wait_for(lambda: not Attachment.objects.filter(pk=stale).exists())
    assert Attachment.objects.filter(pk=fresh).exists()
    assert len(stored_files(media)) == 1


# --- the moderators' admin ---------------------------------------------------------------------


@pytest.fixture
def moderator(transactional_db) -> Client:
    User.objects.create_superuser("moderator", password="mod-pass-123")
    browser = Client()
    assert browser.login(username="moderator", password="mod-pass-123")
    return browser


def test_admin_shows_a_messages_attachments_and_recall_removes_them(media, moderator, alice, bob):
    from messaging.models import MessageRecord

    image = uploaded(alice, jpeg(), name="evidence.jpg")
    file = uploaded(alice, PDF, name="report.pdf")
    message = attach(alice, bob, [image["attachment_id"], file["attachment_id"]])
    record = MessageRecord.objects.get(msg_id=message["msg_id"])
    page = moderator.get(f"/admin/messaging/messagerecord/{record.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "evidence.jpg" in html and "report.pdf" in html and str(len(PDF)) in html
    link = f"/admin/messaging/messagerecord/attachment/{file['attachment_id']}/file/"
    assert link in html
    response = moderator.get(link)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert bob.client.get(link).status_code == 302  # not staff: the admin's log-in page

    response = moderator.post(
        "/admin/messaging/messagerecord/", {"action": "recall_selected", "_selected_action": [record.pk]}
    )
    assert response.status_code == 302
    assert_nothing_stored(media)
    assert bob.client.get(file["url"]).status_code == 404
    assert moderator.get(link).status_code == 404


def test_a_file_missing_from_storage_is_404_not_500(media, alice):
    body = uploaded(alice, PDF)
    (media / Attachment.objects.get(pk=body["attachment_id"]).storage_key).unlink()
    response = alice.client.get(body["url"])
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_file_storage_cannot_delete_keeps_its_row_for_the_next_sweep(media, alice, monkeypatch):
    attachment_id = uploaded(alice, PDF)["attachment_id"]
    later = timezone.now() + timedelta(days=2)

    def refuse(name):
        raise OSError("storage down")

    monkeypatch.setattr(attachments.storage(), "delete", refuse)
    assert attachments.sweep_attachments(now=later) == 0
    assert Attachment.objects.filter(pk=attachment_id).exists()
    monkeypatch.undo()
    assert attachments.sweep_attachments(now=later) == 1
    assert_nothing_stored(media)


def test_a_cmyk_jpeg_is_stored_as_rgb(media, alice):
    buffer = io.BytesIO()
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(buffer, "JPEG")
    body = uploaded(alice, buffer.getvalue(), name="print.jpg")
    _, data = fetch(alice.client, body["url"])
    assert Image.open(io.BytesIO(data)).mode == "RGB" and (body["width"], body["height"]) == (50, 40)


def test_the_exif_orientation_is_applied_then_dropped(media, alice):
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show it rotated 90 degrees clockwise
    buffer = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 10, 10)).save(buffer, "JPEG", exif=exif)
    body = uploaded(alice, buffer.getvalue())
    assert (body["width"], body["height"]) == (200, 400)
    _, data = fetch(alice.client, body["url"])
    image = Image.open(io.BytesIO(data))
    assert image.size == (200, 400) and not image.getexif()


def test_a_batch_of_claims_is_two_statements_and_each_send_fails_alone(
    media, alice, bob, django_assert_max_num_queries
):
    from messaging.attachments import Claim, claim_attachments_batch

    a, b, c = (uploaded(alice, PDF)["attachment_id"] for _ in range(3))
    theirs = uploaded(bob, PDF)["attachment_id"]
    sent = [alice.send(bob, f"m{n}") for n in range(4)]
    conv = sent[0]["conversation_id"]
    claims = [
        Claim(alice.id, [a, b], conv, sent[0]["msg_id"]),
        Claim(alice.id, [b], conv, sent[1]["msg_id"]),  # b went to the first send of the batch
        Claim(alice.id, [c, theirs], conv, sent[2]["msg_id"]),
        Claim(alice.id, [c], conv, sent[3]["msg_id"]),
        Claim(alice.id, "nope", conv, sent[3]["msg_id"]),
        Claim(alice.id, [], conv, sent[3]["msg_id"]),
    ]
    # In the send's transaction: a lock and an update, whatever the batch's size.
    with transaction.atomic(), django_assert_max_num_queries(2):
        results = claim_attachments_batch(claims)
    assert [r["attachment_id"] for r in results[0]] == [a, b]
    assert "already part of another message" in results[1].errors["attachments"][0]
    assert "not an upload of yours" in results[2].errors["attachments"][0]
    assert [r["attachment_id"] for r in results[3]] == [c]
    assert "list" in results[4].errors["attachments"][0]
    assert results[5] == []
    stored = dict(Attachment.objects.values_list("pk", "message_id"))
    assert stored == {a: sent[0]["msg_id"], b: sent[0]["msg_id"], c: sent[3]["msg_id"], theirs: None}


def test_claimed_for_a_message_not_stored_yet_only_the_uploader_sees_it(media, alice, bob):
    attachment_id = uploaded(alice, PDF)["attachment_id"]
    conv = alice.send(bob, "x")["conversation_id"]
    # The send path may claim before it inserts its row (same transaction): no row yet means no peer.
    claim_attachments(alice.id, [attachment_id], conv, 987654321)
    assert get_attachment_for(alice.id, attachment_id).pk == attachment_id
    assert alice.client.get(f"/api/v1/attachments/{attachment_id}").status_code == 200
    assert bob.client.get(f"/api/v1/attachments/{attachment_id}").status_code == 404
