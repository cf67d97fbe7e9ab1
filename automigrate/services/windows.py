"""Whether migrations may run now: global blackouts and a rule's allowed windows, in the cluster time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from automigrate.engine import windows
from automigrate.models import BlackoutWindow, MigrationRule


@dataclass(frozen=True)
class WindowState:
    open: bool
    until: datetime | None = None  # closed: when migrations are next allowed (None: not within a week)
    text: str = ""  # closed: "outside the allowed window (Mon-Fri 22:00-06:00) until 22:00"

    @property
    def key(self) -> str:
        """Names this closed period, so its event is written once."""
        return f"window:{self.until.isoformat() if self.until else 'none'}"

    def to_dict(self) -> dict:
        return {"open": self.open, "until": self.until.isoformat() if self.until else None, "text": self.text}


def cluster_tz() -> ZoneInfo:
    return ZoneInfo(settings.AUTOMIGRATE["CLUSTER_TIME_ZONE"])


def blackouts() -> list[tuple[BlackoutWindow, windows.Schedule]]:
    return [(b, windows.parse(b.windows)) for b in BlackoutWindow.objects.filter(enabled=True).order_by("name")]


def when_text(moment: datetime, now: datetime) -> str:
    """``22:00`` today, else ``Mon 22:00`` (cluster time)."""
    local, today = moment.astimezone(cluster_tz()), now.astimezone(cluster_tz())
    if local.date() == today.date() or local - today < timedelta(hours=12):
        return f"{local:%H:%M}"
    return f"{local:%a %H:%M}"


def state(
    rule: MigrationRule | None, now: datetime | None = None, *, rule_windows: bool = True,
    blocked: list[tuple[BlackoutWindow, windows.Schedule]] | None = None,
) -> WindowState:
    """May migrations run now for ``rule`` (None: only the global blackouts count)?"""
    now = now or timezone.now()
    tz = cluster_tz()
    allowed_in = windows.parse(rule.allowed_windows) if rule is not None and rule_windows else windows.Schedule("", ())
    blocked = blackouts() if blocked is None else blocked
    schedules = tuple(s for _, s in blocked)
    if windows.allowed(now, tz, allowed_in, schedules):
        return WindowState(True)
    until = windows.next_allowed(now, tz, allowed_in, schedules)
    active = [b for b, s in blocked if s.contains(now, tz)]
    if active:
        why = f"in the blackout window {active[0].name} ({active[0].windows})"
        if active[0].reason:
            why += f": {active[0].reason}"
    else:
        why = f"outside the allowed window ({allowed_in.spec})"
    return WindowState(False, until, f"{why} until {when_text(until, now)}" if until else f"{why}, for the next week")


def overview(now: datetime | None = None) -> dict:
    """For the overview page: the blackouts, and when migrations are next allowed if not now."""
    now = now or timezone.now()
    blocked = blackouts()
    current = state(None, now, blocked=blocked)
    return {
        "state": current,
        "blackouts": [b for b, _ in blocked],
        "again": when_text(current.until, now) if current.until else "",
        "time_zone": settings.AUTOMIGRATE["CLUSTER_TIME_ZONE"],
    }
