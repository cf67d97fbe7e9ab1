"""Request-wide settings: the user's display time zone."""

from __future__ import annotations

import zoneinfo

from django.http import Http404, HttpResponseNotFound, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
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


def not_found_response(request) -> HttpResponseNotFound:
    """automigrate's own 404: the friendly page (JSON under /api/), also with DEBUG on.

    Django's DEBUG 404 lists every URL pattern: under `make run` (DEBUG on) that is
    what a mistyped address showed a user.
    """
    if request.path.startswith("/api/"):
        # The same one line as every other API error (automigrate.api.errors).
        return JsonResponse({"detail": f"not found: {request.path}"}, status=404)
    return HttpResponseNotFound(render_to_string("404.html", {}, request))


class FriendlyNotFoundMiddleware:
    """A view's Http404 (a deleted rule, host or guest) shows the friendly page, not the debug one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Http404):
            return not_found_response(request)
        return None


def unmatched(request, path: str = ""):
    """The last URL pattern: an address nothing else matched (APPEND_SLASH kept, as Django's common middleware)."""
    from django.shortcuts import redirect

    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not unmatched:
            query = request.META.get("QUERY_STRING", "")
            return redirect(request.path + "/" + (f"?{query}" if query else ""), permanent=True)
    return not_found_response(request)
