"""Machines get JSON: every error from /api/, /write and /ping is one readable JSON line, never an HTML page.

DRF already answers its own errors (validation, permissions, 404 from a view)
as JSON. What it does not cover ends up as Django's HTML: an unhandled
exception (500, or the debug page under DEBUG), the database being down, a
404 for a path outside the router, a body larger than the server takes. This
middleware turns those into ``{"detail": "..."}`` (``{"error": "..."}`` on the
InfluxDB endpoints, as InfluxDB answers).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import DatabaseError, InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("automigrate.api")

API_PREFIX = "/api/"
INFLUX_PATHS = ("/write", "/ping")
DATABASE_DOWN = "the database is unavailable: try again shortly"
UNHANDLED_ATTR = "_automigrate_unhandled_exception"


def is_machine_path(path: str) -> bool:
    return path.startswith(API_PREFIX) or path in INFLUX_PATHS


def error_response(request: HttpRequest, status: int, message: str, **headers: str) -> JsonResponse:
    key = "error" if request.path in INFLUX_PATHS else "detail"
    return JsonResponse({key: message}, status=status, headers=headers)


def _max_body_bytes(request: HttpRequest) -> int | None:
    if request.path in INFLUX_PATHS:
        return None  # /write reads its own, larger, limit (telegraf batches): automigrate.api.ingest
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class JsonErrorsMiddleware:
    """Outermost on purpose: it sees the response of every layer below, HTML error pages included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_machine_path(request.path):
            return self.get_response(request)
        limit = _max_body_bytes(request)
        size = _content_length(request)
        if limit is not None and size > limit:
            # Refused before any parser reads it: DRF's parsers read the whole stream otherwise.
            return error_response(request, 400, f"request body too large: {size} bytes, at most {limit}")
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            return self._as_json(request, response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Exceptions the views did not handle, on machine paths only (pages keep Django's handling)."""
        if not is_machine_path(request.path):
            return None
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error("%s %s: database unavailable: %s", request.method, request.path,
                         str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__)
            return error_response(request, 503, DATABASE_DOWN, **{"Retry-After": "5"})
        logger.error("%s %s: unhandled %s", request.method, request.path, type(exception).__name__,
                     exc_info=exception)
        if isinstance(exception, DatabaseError):
            return error_response(request, 500, "internal error: the database refused the request (logged)")
        return error_response(request, 500, f"internal error: {type(exception).__name__} (logged)")

    @staticmethod
    def _as_json(request: HttpRequest, response: HttpResponse) -> JsonResponse:
        status = response.status_code
        if status == 500 and isinstance(getattr(request, UNHANDLED_ATTR, None), (OperationalError, InterfaceError)):
            return error_response(request, 503, DATABASE_DOWN, **{"Retry-After": "5"})
        try:
            phrase = HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "error"
        message = {
            404: f"not found: {request.path}",
            405: f"method {request.method} not allowed on {request.path}",
            500: "internal error (logged)",
        }.get(status, f"{phrase} ({status})")
        headers = {name: response[name] for name in ("Allow", "Retry-After", "WWW-Authenticate") if name in response}
        return error_response(request, status, message, **headers)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


@receiver(got_request_exception)
def _remember_unhandled(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Note what a layer below us (sessions, axes) raised: by the time its 500 reaches us
    the handler has turned the exception into a page, and only this tells a dead database apart."""
    if request is not None:
        setattr(request, UNHANDLED_ATTR, sys.exc_info()[1])
