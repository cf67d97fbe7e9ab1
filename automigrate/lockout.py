"""What a client locked out by django-axes sees (AXES_LOCKOUT_CALLABLE).

Axes counts failed logins on every door that authenticates with a password:
the login page, the admin's login and /write's Basic auth, ``Token user:pass``
and ``u``/``p``. Past AXES_FAILURE_LIMIT failures for one username from one
address, even the right password is refused until the cool-off has passed or
an admin resets it (admin → Axes → Access attempts, or ``manage.py axes_reset``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from automigrate.api.errors import error_response, is_machine_path


def lockout_message(request: HttpRequest | None = None) -> str:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    if cool_off:
        minutes = max(1, round(cool_off.total_seconds() / 60))
        when = f"try again in {minutes} minute{'s' if minutes != 1 else ''} or ask an admin to unlock it"
    else:
        when = "ask an admin to unlock it"
    return (f"locked out: too many failed logins for this user from this address "
            f"(limit {settings.AXES_FAILURE_LIMIT}); {when}")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    status = settings.AXES_HTTP_RESPONSE_CODE
    message = lockout_message(request)
    if is_machine_path(request.path):
        return error_response(request, status, message, **{"Retry-After": str(_retry_after(request))})
    return render(request, "registration/locked_out.html", {"message": message}, status=status)


def _retry_after(request: HttpRequest) -> int:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 3600
