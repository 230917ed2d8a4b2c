"""Every API error in PROTOCOL.md's shape: {"code", "detail", "errors"?}.

DRF's own exceptions (parse errors, authentication, throttles, 405, 415)
are translated here too, and Django's 404/500 handlers answer JSON under
/api/, so a client never sees an HTML error page or a bare DRF body.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .errors import ChatError, outage_error

logger = logging.getLogger(__name__)

_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.ValidationError, "validation_error"),
    (drf.ParseError, "validation_error"),
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "not_authenticated"),
    (drf.PermissionDenied, "forbidden"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.Throttled, "rate_limited"),
]


def _field_errors(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for field, msgs in detail.items()
        }
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    headers: dict[str, str] = {}
    outage = outage_error(exc)
    if outage is not None:
        logger.warning("answering unavailable: %s: %s", exc.__class__.__name__, exc)
        exc = outage
    if isinstance(exc, ChatError):
        set_rollback()
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return Response(exc.as_dict(), status=exc.status, headers=headers)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.APIException):
        set_rollback()
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        # Throttled sets .wait; the stubs do not declare it.
        wait = getattr(exc, "wait", None) if isinstance(exc, drf.Throttled) else None
        if wait is not None:
            headers["Retry-After"] = str(int(wait) + 1)
        body: dict = {"code": code}
        if code == "validation_error":
            errors = _field_errors(exc.detail)
            body["detail"] = "Invalid input." if isinstance(exc, drf.ValidationError) else "Malformed request body."
            body["errors"] = errors
        else:
            body["detail"] = str(exc.detail)
        return Response(body, status=exc.status_code, headers=headers)
    logger.exception("unhandled error in %s", context.get("view"))
    return Response({"code": "server_error", "detail": "Internal server error."}, status=500)


# csrf_exempt: an unknown path answers not_found for every method; without it
# a POST would meet the CSRF check (an HTML 403) before this view.
@csrf_exempt
def api_not_found(request, exception=None) -> JsonResponse:
    return JsonResponse({"code": "not_found", "detail": "No such endpoint."}, status=404)


def api_bad_request(request) -> JsonResponse:
    detail = "Bad request."
    return JsonResponse(
        {"code": "validation_error", "detail": detail, "errors": {"non_field_errors": [detail]}}, status=400
    )


def api_forbidden(request, detail: str | None = None) -> JsonResponse:
    return JsonResponse({"code": "forbidden", "detail": detail or drf.PermissionDenied.default_detail}, status=403)


def api_server_error(request) -> JsonResponse:
    return JsonResponse({"code": "server_error", "detail": "Internal server error."}, status=500)
