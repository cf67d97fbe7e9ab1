"""One clock: every time people read is shown in one format with its zone, in their display zone.

``2026-12-01 19:26 UTC`` (``with_seconds``: ``19:26:05``). The display zone is the
user's choice (UserPreference.time_zone, activated per request by
``automigrate.middleware.DisplayTimeZoneMiddleware``), else ``settings.TIME_ZONE``.
Tables, charts, the header clock, filters, admin and the CLI all go through here.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, tzinfo
from functools import lru_cache

from django.utils import timezone

FORMAT = "%Y-%m-%d %H:%M %Z"
FORMAT_SECONDS = "%Y-%m-%d %H:%M:%S %Z"


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted (for the preference form)."""
    return sorted(zoneinfo.available_timezones())


def parse_zone(name: str) -> tzinfo:
    """An IANA zone by name; ValueError naming the input otherwise."""
    if not name or name not in zoneinfo.available_timezones():
        raise ValueError(f"'{name}' is not a time zone: use an IANA name such as UTC or Europe/Berlin")
    return zoneinfo.ZoneInfo(name)


def show(value: datetime | None, *, with_seconds: bool = False, zone: tzinfo | None = None) -> str:
    """A time as people read it, in ``zone`` (default: the active display zone), with the zone's name."""
    if value is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = value.astimezone(zone or timezone.get_current_timezone())
    return local.strftime(FORMAT_SECONDS if with_seconds else FORMAT)


def zone_label(zone: tzinfo | None = None) -> str:
    """The display zone's name, for labels such as "Since (Europe/Berlin)"."""
    zone = zone or timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)
