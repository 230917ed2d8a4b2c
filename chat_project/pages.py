"""Plain Django views: the health check and the error pages (the UI is in web.py)."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf

from .common import api_errors
from .common.redis_client import get_redis


def healthz(request: HttpRequest) -> JsonResponse:
    """200 only when both the database and Redis answer (load balancers, `make run` waiters)."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """400 raised outside DRF (a host not in ALLOWED_HOSTS, a malformed multipart body)."""
    if request.path.startswith("/api/"):
        return api_errors.api_bad_request(request)
    return HttpResponse("Bad request.", status=400, content_type="text/plain")


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_errors.api_forbidden(request)
    return HttpResponse("Forbidden.", status=403, content_type="text/plain")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON ``forbidden`` under /api/, Django's explanatory page elsewhere."""
    if request.path.startswith("/api/"):
        return api_errors.api_forbidden(request, f"CSRF Failed: {reason}" if reason else None)
    return csrf.csrf_failure(request, reason)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_errors.api_not_found(request)
    return HttpResponse("Not found.", status=404, content_type="text/plain")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_errors.api_server_error(request)
    return HttpResponse("Server error.", status=500, content_type="text/plain")
