"""One DRF exception handler: the services' errors become 400 and 409 answers everywhere.

Views call services directly; whatever they raise is translated here once,
instead of a wrapper around every call and a destroy override per viewset.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from automigrate.services.evaluate import ApprovalError
from automigrate.services.rules import InUse, ListedByRules
from automigrate.sources import SourceError


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the request conflicts with the current state"
    default_code = "conflict"


class SourceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the metric source did not answer"
    default_code = "metric_source_unavailable"


def translate(exc: Exception) -> Exception:
    """A service error as the API exception it answers with (others unchanged)."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return ValidationError(detail)
    if isinstance(exc, ApprovalError):
        return ValidationError({"event": str(exc)})
    if isinstance(exc, ListedByRules | InUse):
        return Conflict(str(exc))
    if isinstance(exc, SourceError):
        # The numbers come from the configured metric source: say which and why it did not answer.
        return SourceUnavailable(str(exc))
    return exc


def exception_handler(exc: Exception, context: dict):
    return drf_exception_handler(translate(exc), context)
