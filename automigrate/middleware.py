"""Request-wide settings: the user's display time zone."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone


def user_zone_name(request) -> str:
    """The logged-in user's chosen zone name ('' for the server's): one small query per request.

    Not cached in the session: a change made in one browser (or in admin) shows in every other at once.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    from automigrate.models import UserPreference

    return UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


class DisplayTimeZoneMiddleware:
    """Activate the user's display zone, so templates, admin, charts and form input use it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = user_zone_name(request)
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None  # a zone removed from tzdata since it was chosen: the server's
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
