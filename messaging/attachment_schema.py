"""OpenAPI descriptions of the attachment endpoints (kept out of the views, which stay thin)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import serializers

from chat_project.common.schema import (
    ATTACHMENT_EXAMPLE,
    FILE_ATTACHMENT_EXAMPLE,
    RETRY_AFTER,
    AttachmentSerializer,
    ErrorSerializer,
    answers,
    id_param,
    ok,
)


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The file, at most `CHAT_ATTACHMENT_MAX_BYTES` (25 MiB). A JPEG, PNG, GIF or WebP (by its "
        "content, not its name or content type) of at most 25 megapixels becomes an image; anything else a file."
    )

    class Meta:
        ref_name = "AttachmentUpload"


def _error(status: int, code: str, description: str, detail: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=f"{code}: {description}",
        examples=[
            OpenApiExample(code, value={"code": code, "detail": detail}, status_codes=[status], response_only=True)
        ],
    )


def _upload_answers() -> dict:
    result = answers(
        {
            201: OpenApiResponse(
                AttachmentSerializer,
                description="The stored Attachment; send its `attachment_id` in a message's `attachments`.",
                examples=[
                    OpenApiExample("an image", value=ATTACHMENT_EXAMPLE, response_only=True, status_codes=[201]),
                    OpenApiExample("a file", value=FILE_ATTACHMENT_EXAMPLE, response_only=True, status_codes=[201]),
                ],
            )
        },
        body=True,
        invalid="no `file` field, two files, an empty file, or a file whose first bytes say JPEG, PNG, GIF or "
        "WebP that is not a whole image (truncated, damaged) or is over 25 megapixels.",
        invalid_errors={"file": ["The image is damaged or cannot be decoded."]},
        rate_limited="Too many uploads by this user (`CHAT_ATTACHMENT_RATE`).",
    )
    result[413] = _error(
        413,
        "payload_too_large",
        "the file is over `CHAT_ATTACHMENT_MAX_BYTES` (25 MiB), or the whole body over that plus 64 KiB "
        "(refused before it is read when `Content-Length` says so).",
        "The file is larger than 26214400 bytes.",
    )
    result[415] = _error(
        415,
        "unsupported_media_type",
        "the body is not `Content-Type: multipart/form-data`.",
        'Unsupported media type "application/json" in request.',
    )
    return result


upload_schema = extend_schema(
    operation_id="attachments_upload",
    summary="Upload an attachment",
    description="Stores one file for a later message (protocol 1.2) and answers its Attachment. Send "
    "`multipart/form-data` with one file field `file`, at most `CHAT_ATTACHMENT_MAX_BYTES` (25 MiB). The "
    "server decides the kind from the bytes: a JPEG, PNG, GIF or WebP is an `image`, re-encoded without any "
    "metadata (EXIF, location, ICC profile, comments), with `width`, `height` and a thumbnail of at most 320 px "
    "a side; a GIF keeps its first frame, stored as PNG. Anything else is a `file`, served only as "
    "`application/octet-stream` for download. `name` is the file name without any path or control "
    "characters, at most 255 characters (the extension kept). An upload not attached to a message within "
    "24 hours is deleted. Rate limited per user (`CHAT_ATTACHMENT_RATE`, default 60 an hour).",
    request={
        "multipart/form-data": OpenApiRequest(
            AttachmentUploadSerializer, encoding={"file": {"contentType": "application/octet-stream"}}
        )
    },
    parameters=[RETRY_AFTER],
    responses=_upload_answers(),
    examples=[
        OpenApiExample(
            "a photo",
            value={"file": "(the bytes of photo.jpg)"},
            request_only=True,
            media_type="multipart/form-data",
        )
    ],
)


class AttachmentLimitsSerializer(serializers.Serializer):
    max_bytes = serializers.IntegerField(
        help_text="`CHAT_ATTACHMENT_MAX_BYTES`: the largest file `POST attachments` accepts; a larger one is 413."
    )
    max_image_pixels = serializers.IntegerField(
        help_text="`CHAT_ATTACHMENT_MAX_PIXELS`: the most pixels (width x height) of an image; a JPEG, PNG, GIF "
        "or WebP with more is a `validation_error` on `file`."
    )
    max_per_message = serializers.IntegerField(help_text="The most attachments one message may carry.")

    class Meta:
        ref_name = "AttachmentLimits"


LIMITS_EXAMPLE = {"max_bytes": 26214400, "max_image_pixels": 25000000, "max_per_message": 10}

limits_schema = extend_schema(
    operation_id="attachments_limits",
    summary="The attachment limits",
    description="An extension of protocol 1.2: the limits `POST attachments` and a send's `attachments` "
    "enforce, as this server is configured, so that a client can refuse a file before uploading it. The "
    "answer changes only when the operator changes the settings: fetch it once per session. Not rate "
    "limited, like the other plain reads.",
    responses=answers({200: ok(AttachmentLimitsSerializer, "The limits.", LIMITS_EXAMPLE)}),
)

RANGE = OpenApiParameter(
    "Range",
    {"type": "string", "pattern": r"^bytes=[0-9]{0,18}-[0-9]{0,18}$"},
    OpenApiParameter.HEADER,
    description="One byte range (`bytes=0-1023`, `bytes=1024-`, `bytes=-500`): answered 206. Several ranges, "
    "another unit or a malformed value are ignored (200, the whole file).",
)
_BYTES = OpenApiTypes.BINARY
_TYPES = ("application/octet-stream", "image/jpeg", "image/png", "image/webp")


def download_schema(*, thumbnail: bool):
    what = "the thumbnail of an image attachment (at most 320 px a side)" if thumbnail else "an attachment's bytes"
    responses: dict = {}
    for media_type in _TYPES if not thumbnail else _TYPES[1:]:
        responses[(200, media_type)] = OpenApiResponse(_BYTES, description="The file.")
        responses[(206, media_type)] = OpenApiResponse(
            _BYTES, description="The byte range asked for, with `Content-Range: bytes <first>-<last>/<size>`."
        )
    responses[304] = OpenApiResponse(description="`If-None-Match` names the file's `ETag`: the client's copy holds.")
    errors = answers(
        {},
        not_found="no such attachment, or one the requesting user may not see (neither its uploader nor, once it "
        "is part of a message, one of that conversation's users), one of a recalled message"
        + (", or a file, which has no thumbnail." if thumbnail else "."),
    )
    errors[416] = _error(
        416,
        "range_not_satisfiable",
        "the `Range` starts beyond the end of the file; `Content-Range: bytes */<size>` says its size.",
        "The file has 183211 bytes.",
    )
    return extend_schema(
        operation_id="attachments_thumbnail" if thumbnail else "attachments_download",
        summary="Download an attachment's thumbnail" if thumbnail else "Download an attachment",
        description=f"Answers {what}: to its uploader, and once it is part of a message to both users of that "
        "conversation; a recalled message's attachments are gone. Token or session authentication (an `<img>` "
        "sends the session cookie). An image is served as its `content_type` with `Content-Disposition: inline`, "
        "a file as `application/octet-stream` with `Content-Disposition: attachment`; always with "
        "`X-Content-Type-Options: nosniff`, `Content-Security-Policy: default-src 'none'; sandbox`, "
        "`Cache-Control: private, max-age=3600` (a browser may keep it, shared caches may not), a strong `ETag` "
        "(`If-None-Match` answers 304) and `Accept-Ranges: bytes`.",
        parameters=[id_param("attachment_id", "An Attachment's `attachment_id`."), RANGE],
        responses={**responses, **errors},
    )
