"""Plain Django views: the health check and the error pages (the UI is in web.py)."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import api_errors
from .redis_client import get_redis


def healthz(request: HttpRequest) -> JsonResponse:
    """200 only when both the database and Redis answer (load balancers, `make run` waiters)."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_errors.api_not_found(request)
    return HttpResponse("Not found.", status=404, content_type="text/plain")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_errors.api_server_error(request)
    return HttpResponse("Server error.", status=500, content_type="text/plain")
