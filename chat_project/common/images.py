"""Safe image handling shared by every upload (avatars, attachments).

An upload is opened with Pillow whatever its name or content type claims, as
one of ``ACCEPTED_FORMATS`` only; its pixel count is checked from the header
before any pixel is decoded (a decompression bomb is refused unread). The
pixels are then copied alone into a new image (``pixels_only``), which drops
every piece of metadata (EXIF with its GPS position, ICC profile, text
chunks, comments). Files uploaded by users are served with
``SAFE_FILE_HEADERS``: never sniffed, and even opened directly they can run
nothing.
"""

import logging
from collections.abc import Callable
from typing import IO

from PIL import Image, ImageOps

from .errors import ChatError, InvalidInput

logger = logging.getLogger(__name__)

# What Pillow may open an upload as (its format names); nothing else is tried.
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

SAFE_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class PayloadTooLarge(ChatError):
    code = "payload_too_large"
    status = 413
    default_detail = "Request body too large."


def open_image(
    upload: IO[bytes],
    max_pixels: int,
    invalid: Callable[[str], InvalidInput],
    formats: tuple[str, ...] = ACCEPTED_FORMATS,
) -> Image.Image:
    """``upload`` opened as one of ``formats`` (some of ``ACCEPTED_FORMATS``) of at most ``max_pixels``.

    Anything else raises ``invalid(message)``. Only the header is read: decoding
    is the caller's, inside ``decode``.
    """
    upload.seek(0)
    try:
        image = Image.open(upload, formats=formats)
    except Image.DecompressionBombError:
        raise invalid(f"The image is larger than {max_pixels} pixels.") from None
    except Exception as exc:  # Pillow raises many kinds (UnidentifiedImageError, SyntaxError, struct.error, …)
        logger.info("image refused: cannot identify it: %s: %s", exc.__class__.__name__, exc)
        raise invalid("Not a PNG, JPEG, GIF or WebP image.") from None
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise invalid("The image has no pixels.")
    if width * height > max_pixels:
        image.close()
        raise invalid(f"The image is larger than {max_pixels} pixels.")
    return image


def decode(
    image: Image.Image, render: Callable[[Image.Image], object], max_pixels: int, invalid: Callable[[str], InvalidInput]
):
    """``render(image)``, its decoder errors (a truncated or corrupt image) turned into ``invalid``."""
    try:
        return render(image)
    except Image.DecompressionBombError:
        raise invalid(f"The image is larger than {max_pixels} pixels.") from None
    except ChatError:
        raise
    except Exception as exc:  # a truncated or corrupt image: any decoder error
        logger.info("image refused: cannot decode it: %s: %s", exc.__class__.__name__, exc)
        raise invalid("The image is damaged or cannot be decoded.") from None


def upright(image: Image.Image) -> Image.Image:
    """The decoded first frame, turned as its EXIF orientation says (a broken EXIF: as it is).

    In place: no copy of the pixels when there is nothing to turn (a large image is costly to copy).
    """
    image.load()
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:
        logger.info("EXIF orientation ignored: %s: %s", exc.__class__.__name__, exc)
    return image


def to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit or float greyscale: scale to 8 bits first (a plain convert would clip to white).
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
        return image.convert("RGB")
    has_alpha = mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def pixels_only(image: Image.Image) -> Image.Image:
    """A new image with ``image``'s pixels and nothing else: no EXIF, ICC profile, text chunk or comment.

    ``image`` is RGB or RGBA (``to_rgb_or_rgba``); pasting copies the pixels once, with no bytes in between.
    """
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean
