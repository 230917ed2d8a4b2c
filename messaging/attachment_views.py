"""REST views of attachments (PROTOCOL.md 1.2): upload, and the bytes behind the access check.

Thin: the rules are messaging/attachments.py's, the byte ranges
chat_project/common/ranges.py's. Downloads accept token and session
authentication alike (an <img> in the browser UI sends the session cookie).
"""

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common import images, ranges
from chat_project.common.api import path_id
from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate

from . import attachments
from .attachment_schema import download_schema, limits_schema, upload_schema
from .models import AttachmentKind

# A browser may keep a file this long; shared caches never (the answer depends on who asks).
CACHE_CONTROL = "private, max-age=3600"
CHUNK = 64 * 1024


class AttachmentUploadView(APIView):
    parser_classes = [MultiPartParser]

    @upload_schema
    def post(self, request):
        check_rate("attachment", f"u{request.user.pk}", settings.CHAT_ATTACHMENT_RATE)
        try:
            files = request.FILES.getlist("file")
        except SuspiciousOperation:  # too many parts or fields: Django's multipart limits
            raise InvalidInput.field("file", "Malformed multipart body.") from None
        if not files:
            raise InvalidInput.field("file", "Send the file as the file field `file` (multipart/form-data).")
        if len(files) > 1:
            raise InvalidInput.field("file", "Send one file.")
        return Response(attachments.upload_attachment(request.user.pk, files[0]), status=201)


class AttachmentLimitsView(APIView):
    @limits_schema
    def get(self, request):
        return Response(attachments.upload_limits())


class _DownloadView(APIView):
    thumbnail = False

    def perform_content_negotiation(self, request, force=False):
        # The answer is the file, whatever Accept says (an <img> asks for image/*); errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request, attachment_id: str):
        row = attachments.get_attachment_for(request.user.pk, path_id(attachment_id))
        key = row.thumbnail_key if self.thumbnail else row.storage_key
        if not key:
            return Response({"code": "not_found", "detail": "This attachment has no thumbnail."}, status=404)
        files = attachments.storage()
        try:
            handle = files.open(key, "rb")
        except FileNotFoundError:  # deleted meanwhile (a recall, the sweeper)
            return Response({"code": "not_found", "detail": "No such attachment."}, status=404)
        size = handle.size
        etag = attachments.etag_of(key)
        headers = {
            **images.SAFE_FILE_HEADERS,
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition_header(row.kind == AttachmentKind.FILE, row.name) or "",
        }
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            handle.close()
            return HttpResponse(status=304, headers={k: headers[k] for k in ("ETag", "Cache-Control")})
        try:
            span = ranges.byte_range(request.headers.get("Range"), size, request.headers.get("If-Range"), etag)
        except ranges.Unsatisfiable:
            handle.close()
            return Response(
                {"code": "range_not_satisfiable", "detail": f"The file has {size} bytes."},
                status=416,
                headers={"Content-Range": f"bytes */{size}"},
            )
        first, last = span if span is not None else (0, size - 1)
        length = last - first + 1
        content_type = row.content_type if row.kind == AttachmentKind.IMAGE else attachments.FILE_CONTENT_TYPE
        if request.method == "HEAD":
            handle.close()
            response: HttpResponse | StreamingHttpResponse = HttpResponse(content_type=content_type)
        else:
            response = StreamingHttpResponse(_read(handle, first, length), content_type=content_type)
        if span is not None:
            response.status_code = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        headers["Content-Length"] = str(length)
        for name, value in headers.items():
            response.headers[name] = value
        return response


def _read(handle, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


class AttachmentView(_DownloadView):
    @download_schema(thumbnail=False)
    def get(self, request, attachment_id: str):
        return super().get(request, attachment_id)


class AttachmentThumbnailView(_DownloadView):
    thumbnail = True

    @download_schema(thumbnail=True)
    def get(self, request, attachment_id: str):
        return super().get(request, attachment_id)
