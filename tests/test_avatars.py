"""Avatar upload (``POST me/avatar``) and the development media view (profiles/avatars.py).

Images are made with Pillow in memory; each test stores its files in its own
MEDIA_ROOT. The end-to-end tests upload to a real daphne (the ASGI body limit,
the media route) with its own CHAT_MEDIA_ROOT.
"""

import io
import struct
import zlib
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, PngImagePlugin

from .conftest import API, ApiUser

MiB = 1024 * 1024


# --- images ----------------------------------------------------------------------


def png(size=(600, 400), color=(200, 30, 30, 255), mode="RGBA", text: dict | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg(size=(1200, 900), color=(20, 160, 40)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


def gif_animation() -> bytes:
    """Two frames: red, then blue."""
    frames = [Image.new("RGB", (64, 64), color).convert("P") for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes: a PNG whose header claims width x height (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def one_bit_png(width: int, height: int) -> bytes:
    """A real, fully decodable image of width x height that compresses to a few KB."""
    buffer = io.BytesIO()
    Image.new("1", (width, height), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def upload(user, data: bytes, name: str = "me.png", content_type: str = "image/png", client=None):
    client = client or user.client
    return client.post(API + "me/avatar", {"avatar": SimpleUploadedFile(name, data, content_type)}, format="multipart")


def stored_path(media: Path, url: str) -> Path:
    assert url.startswith("/media/"), url
    return media / url.removeprefix("/media/")


@pytest.fixture
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.MEDIA_URL = "/media/"
    settings.CHAT_SERVE_STATIC = True
    return root


def fetch(client, url: str):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def assert_safe_image(response, body: bytes, content_type: str = "image/png") -> Image.Image:
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    image = Image.open(io.BytesIO(body))
    image.load()
    assert image.format == "PNG"
    assert image.width <= 256 and image.height <= 256
    return image


# --- upload round trips -------------------------------------------------------------


def test_png_then_jpeg_round_trip_replaces_and_deletes_the_previous_file(media, alice: ApiUser, bob: ApiUser):
    first = upload(alice, png(text={"Comment": "secret", "Author": "Alice"}))
    assert first.status_code == 200, first.content
    profile = first.json()
    url = profile["avatar_url"]
    assert url.startswith(f"/media/avatars/{alice.id}/") and url.endswith(".png")
    assert profile["user_id"] == alice.id and profile["nickname"] == "Alice"
    assert stored_path(media, url).is_file()

    response, body = fetch(alice.client, url)
    image = assert_safe_image(response, body)
    assert image.size == (256, 171)  # 600x400 fit into 256x256, aspect kept
    assert image.mode == "RGBA"
    assert image.getpixel((10, 10)) == (200, 30, 30, 255)
    assert not image.text and "icc_profile" not in image.info  # metadata stripped

    # The cached profile follows: the owner and everybody else see the new URL.
    assert alice.get("me").json()["avatar_url"] == url
    assert bob.get(f"users/{alice.id}").json()["avatar_url"] == url

    second = upload(alice, jpeg(), name="holiday.jpg", content_type="image/jpeg")
    assert second.status_code == 200, second.content
    new_url = second.json()["avatar_url"]
    assert new_url != url and new_url.startswith(f"/media/avatars/{alice.id}/") and new_url.endswith(".png")
    response, body = fetch(alice.client, new_url)
    image = assert_safe_image(response, body)
    assert image.size == (256, 192) and image.mode == "RGB"
    assert "exif" not in image.info and not image.getexif()
    r, g, b = image.getpixel((100, 100))
    assert abs(r - 20) < 8 and abs(g - 160) < 8 and abs(b - 40) < 8

    # The previous file is gone, and only it: one file in the user's folder.
    assert not stored_path(media, url).exists()
    assert [p.name for p in (media / "avatars" / str(alice.id)).iterdir()] == [Path(new_url).name]
    assert fetch(alice.client, url)[0].status_code == 404
    assert alice.get("me").json()["avatar_url"] == new_url
    assert bob.get(f"users/{alice.id}").json()["avatar_url"] == new_url


def test_trailing_slash_and_small_images_are_kept_small(media, alice):
    response = alice.client.post(
        API + "me/avatar/", {"avatar": SimpleUploadedFile("tiny.webp", webp((40, 20)))}, format="multipart"
    )
    assert response.status_code == 200, response.content
    _, body = fetch(alice.client, response.json()["avatar_url"])
    assert Image.open(io.BytesIO(body)).size == (40, 20)  # never enlarged


def webp(size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


def test_gif_animation_keeps_its_first_frame(media, alice):
    response = upload(alice, gif_animation(), name="anim.gif", content_type="image/gif")
    assert response.status_code == 200, response.content
    _, body = fetch(alice.client, response.json()["avatar_url"])
    image = Image.open(io.BytesIO(body))
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((32, 32)) == (255, 0, 0)


@pytest.mark.parametrize(
    "mode, color",
    [("P", 3), ("LA", (100, 50)), ("L", 7), ("I;16", 60000), ("CMYK", (0, 255, 255, 0)), ("1", 1)],
)
def test_unusual_modes_are_converted_not_refused(media, alice, mode, color):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    buffer = io.BytesIO()
    Image.new(mode, (300, 300), color).save(buffer, fmt)
    response = upload(alice, buffer.getvalue())
    assert response.status_code == 200, response.content
    _, body = fetch(alice.client, response.json()["avatar_url"])
    assert Image.open(io.BytesIO(body)).mode in ("RGB", "RGBA")


def test_a_palette_png_with_transparency_keeps_it(media, alice):
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 255, 0])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    response = upload(alice, buffer.getvalue())
    assert response.status_code == 200, response.content
    _, body = fetch(alice.client, response.json()["avatar_url"])
    stored = Image.open(io.BytesIO(body))
    assert stored.mode == "RGBA" and stored.getpixel((0, 0))[3] == 0


# --- refusals ------------------------------------------------------------------------


def assert_invalid(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and body["errors"]["avatar"], body
    return body


def test_text_named_png_is_refused(media, alice):
    assert_invalid(upload(alice, b"hello, I am not a picture\n" * 10, name="cat.png", content_type="image/png"))
    assert alice.get("me").json()["avatar_url"] == ""
    assert not (media / "avatars").exists()


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM"])
def test_other_image_formats_are_refused(media, alice, fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, fmt)
    body = assert_invalid(upload(alice, buffer.getvalue(), name="x.png"))
    assert "PNG, JPEG, GIF or WebP" in body["errors"]["avatar"][0]


def test_svg_is_refused(media, alice):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert_invalid(upload(alice, svg, name="x.svg", content_type="image/svg+xml"))


def test_truncated_png_is_refused(media, alice):
    assert_invalid(upload(alice, png()[:200]))


@pytest.mark.parametrize("size", [(30000, 30000), (70000, 70000), (1, 2**31 - 1)])
def test_decompression_bomb_header_is_refused_unread(media, alice, size):
    data = png_header_claiming(*size)
    assert len(data) < 200
    body = assert_invalid(upload(alice, data))
    assert "pixels" in body["errors"]["avatar"][0]


def test_over_the_pixel_limit_is_refused_before_decoding(media, alice, settings):
    data = one_bit_png(5000, 5000)  # 25 megapixels in a few KB: over 20, under Pillow's own limit
    assert len(data) < 100_000
    body = assert_invalid(upload(alice, data))
    assert "20000000 pixels" in body["errors"]["avatar"][0]


def test_over_the_byte_limit_is_413(media, alice, settings):
    settings.CHAT_AVATAR_MAX_BYTES = 50_000
    data = png() + b"\0" * 60_000  # a valid PNG followed by padding
    response = upload(alice, data)
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "payload_too_large"


def test_missing_file_empty_file_and_json_are_refused(media, alice):
    assert_invalid(alice.client.post(API + "me/avatar", {}, format="multipart"))
    assert_invalid(alice.client.post(API + "me/avatar", {"avatar": "not a file"}, format="multipart"))
    assert_invalid(upload(alice, b""))
    response = alice.post("me/avatar", {"avatar": "aGVsbG8="})
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    two = [SimpleUploadedFile("a.png", png()), SimpleUploadedFile("b.png", png())]
    assert_invalid(alice.client.post(API + "me/avatar", {"avatar": two}, format="multipart"))
    assert alice.get("me").json()["avatar_url"] == ""


def test_unauthenticated_upload_is_401(media, anonymous, transactional_db):
    response = anonymous.post(API + "me/avatar", {"avatar": SimpleUploadedFile("a.png", png())}, format="multipart")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_uploads_are_rate_limited_per_user(media, alice, bob, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_AVATAR_RATE = (2, 3600)
    for _ in range(2):
        assert upload(alice, png()).status_code == 200
    refused = upload(alice, png())
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert upload(bob, png()).status_code == 200  # per user
    # The refused upload stored nothing; the second file replaced the first.
    assert len(list((media / "avatars" / str(alice.id)).iterdir())) == 1


# --- PATCH me and uploaded files -----------------------------------------------------------


def test_patch_me_keeps_working_and_drops_the_uploaded_file(media, alice):
    url = upload(alice, png()).json()["avatar_url"]
    # A client sending its profile back unchanged keeps the uploaded avatar.
    same = alice.patch("me", {"nickname": "Ally", "avatar_url": url})
    assert same.status_code == 200 and same.json()["avatar_url"] == url
    assert stored_path(media, url).is_file()
    # Another path is not a URL the client may set.
    assert alice.patch("me", {"avatar_url": f"/media/avatars/{alice.id}/other.png"}).status_code == 400
    changed = alice.patch("me", {"avatar_url": "https://example.com/alice.png"})
    assert changed.status_code == 200 and changed.json()["avatar_url"] == "https://example.com/alice.png"
    assert not stored_path(media, url).exists()
    # Clearing it, then uploading again, works too.
    assert alice.patch("me", {"avatar_url": ""}).json()["avatar_url"] == ""
    assert upload(alice, png()).status_code == 200


def test_only_the_users_own_files_are_ever_deleted(media, alice, bob):
    from profiles import avatars

    bob_url = upload(bob, png()).json()["avatar_url"]
    avatars.delete_uploaded(alice.id, bob_url)  # not alice's
    avatars.delete_uploaded(alice.id, f"/media/avatars/{alice.id}/../{bob.id}/{Path(bob_url).name}")
    avatars.delete_uploaded(alice.id, "/media/avatars/../../etc/passwd")
    assert stored_path(media, bob_url).is_file()


# --- the media view ------------------------------------------------------------------------


def test_media_view_serves_only_avatars_with_image_extensions(media, alice, anonymous):
    url = upload(alice, png()).json()["avatar_url"]
    # Anyone may fetch an avatar (an <img> sends no token).
    assert_safe_image(*fetch(anonymous, url))
    head = anonymous.head(url)
    assert head.status_code == 200 and head["Content-Type"] == "image/png"
    folder = media / "avatars" / str(alice.id)
    (folder / "evil.html").write_text("<script>alert(1)</script>")
    (folder / "evil.svg").write_text("<svg/>")
    (media / "secret.png").write_bytes(png())
    (media / "other").mkdir()
    (media / "other" / "x.png").write_bytes(png())
    for path in (
        f"/media/avatars/{alice.id}/evil.html",
        f"/media/avatars/{alice.id}/evil.svg",
        "/media/secret.png",
        "/media/other/x.png",
        f"/media/avatars/{alice.id}/../../secret.png",
        f"/media/avatars/{alice.id}/%2e%2e/%2e%2e/secret.png",
        f"/media/avatars/{alice.id}/missing.png",
        f"/media/avatars/{alice.id}/",
        "/media/avatars/",
        "/media/",
        "/media/../chat_project/settings.py",
    ):
        assert anonymous.get(path).status_code == 404, path


def test_media_view_is_off_when_the_server_does_not_serve_files(media, alice, anonymous, settings):
    url = upload(alice, png()).json()["avatar_url"]
    settings.CHAT_SERVE_STATIC = False
    assert anonymous.get(url).status_code == 404


# --- end to end: a real daphne ------------------------------------------------------------


def multipart_upload(server, token: str, data: bytes, name: str = "me.png") -> requests.Response:
    return requests.post(
        f"http://{server.address}{API}me/avatar",
        files={"avatar": (name, data, "application/octet-stream")},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )


@pytest.mark.e2e
def test_live_upload_serve_watchers_and_body_limit(start_daphne, tmp_path, alice, bob):
    media = tmp_path / "live-media"
    server = start_daphne(CHAT_MEDIA_ROOT=str(media), CHAT_SERVE_STATIC="on")
    watcher = server.socket(bob.token)
    watcher.expect("ready")
    watcher.send({"type": "watch", "user_ids": [alice.id]})
    watcher.expect("presence", user_id=alice.id)

    response = multipart_upload(server, alice.token, jpeg(size=(2000, 1000)), name="photo.jpg")
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    assert url.startswith(f"/media/avatars/{alice.id}/")
    # Watchers hear about it as about a PATCH me.
    assert watcher.expect("profile")["profile"]["avatar_url"] == url
    watcher.close()

    served = requests.get(f"http://{server.address}{url}", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"] == "inline"
    assert Image.open(io.BytesIO(served.content)).size == (256, 128)
    assert (media / url.removeprefix("/media/")).is_file()
    assert requests.get(f"http://{server.address}/media/avatars/{alice.id}/x.txt", timeout=10).status_code == 404

    # Over the file limit but within the body limit: the view's 413; over the body limit: the edge's 413.
    for size in (2 * MiB + 1, 3 * MiB):
        refused = multipart_upload(server, alice.token, png() + b"\0" * (size - len(png())))
        assert refused.status_code == 413, (size, refused.text)
        assert refused.json()["code"] == "payload_too_large"
    # Nothing changed, and the file is still served.
    assert (
        requests.get(
            f"http://{server.address}{API}me", headers={"Authorization": f"Token {alice.token}"}, timeout=10
        ).json()["avatar_url"]
        == url
    )

    # A malformed multipart body reaches Django (daphne's Twisted does not parse it first): a JSON 400.
    for body in (b"--b0--\r\n", b"garbage", b"--b0\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0--\r\n"):
        malformed = requests.post(
            f"http://{server.address}{API}me/avatar",
            data=body,
            headers={"Authorization": f"Token {alice.token}", "Content-Type": "multipart/form-data; boundary=b0"},
            timeout=10,
        )
        assert malformed.status_code == 400, (body, malformed.content)
        assert malformed.json()["code"] == "validation_error"

    second = multipart_upload(server, alice.token, gif_animation(), name="a.gif")
    assert second.status_code == 200, second.text
    assert not (media / url.removeprefix("/media/")).exists()
    assert requests.get(f"http://{server.address}{url}", timeout=10).status_code == 404
