"""Migration windows: days and hours like ``Mon-Fri 22:00-06:00``, in the cluster's time zone.

Grammar (strict: anything else is an error naming the part and what is allowed)::

    spec    := window ( ";" window )*
    window  := days " " HH:MM "-" HH:MM
    days    := "daily" | "*" | day ( "," day )* | day "-" day
    day     := Mon | Tue | Wed | Thu | Fri | Sat | Sun

A window whose end is not after its start runs past midnight and belongs to
the day it starts: ``Fri 22:00-06:00`` is Friday 22:00 to Saturday 06:00.
``24:00`` may end a window; ``00:00-24:00`` is the whole day. Times passed in
are timezone-aware datetimes; the caller chooses the zone (``tz``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_HORIZON_DAYS = 8  # every weekly pattern repeats within a week; one more day covers overnight windows


class WindowError(ValueError):
    """A window spec that cannot be parsed; the message is one line."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, <= start: ends the next day

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if not self.overnight:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)


@dataclass(frozen=True)
class Schedule:
    """Parsed windows plus the spec they came from (shown to people as written)."""

    spec: str
    windows: tuple[Window, ...]

    def __bool__(self) -> bool:
        return bool(self.windows)

    def contains(self, when: datetime, tz: tzinfo) -> bool:
        local = when.astimezone(tz)
        return any(w.contains(local) for w in self.windows)

    def boundaries(self, after: datetime, tz: tzinfo) -> list[datetime]:
        """Every window start and end in the next week after ``after``, in order."""
        local = after.astimezone(tz)
        out: set[datetime] = set()
        for offset in range(-1, _HORIZON_DAYS):
            day: date = local.date() + timedelta(days=offset)
            for w in self.windows:
                start = _at(day, w.start, tz)
                end = _at(day + timedelta(days=1 if w.overnight else 0), w.end, tz)
                out.update(t for t in (start, end) if t > after)
        return sorted(out)


def _at(day: date, minutes: int, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=minutes)


def parse(spec: str, field: str = "windows") -> Schedule:
    """Parse ``spec``; an empty one means "no windows"."""
    text = (spec or "").strip()
    if not text:
        return Schedule("", ())
    windows = []
    for i, part in enumerate(p.strip() for p in text.split(";")):
        where = f"{field}: window {i + 1} ({part!r})"
        pieces = part.split()
        if len(pieces) != 2:
            raise WindowError(f"{where}: write days then hours, e.g. 'Mon-Fri 22:00-06:00'")
        days = _days(pieces[0], where)
        hours = pieces[1].split("-")
        if len(hours) != 2:
            raise WindowError(f"{where}: hours must be HH:MM-HH:MM, e.g. 22:00-06:00")
        start, end = (_minutes(h, where) for h in hours)
        if start == 24 * 60:
            raise WindowError(f"{where}: a window cannot start at 24:00")
        if start == end:
            raise WindowError(f"{where}: start and end are equal; use 00:00-24:00 for a whole day")
        windows.append(Window(days, start, end))
    return Schedule(text, tuple(windows))


def _days(text: str, where: str) -> frozenset[int]:
    if text in ("daily", "*"):
        return frozenset(range(7))
    if "-" in text:
        first, _, last = text.partition("-")
        a, b = _day(first, where), _day(last, where)
        return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(_day(d, where) for d in text.split(","))


def _day(text: str, where: str) -> int:
    if text not in DAYS:
        raise WindowError(f"{where}: unknown day {text!r}: use {', '.join(DAYS)}, a range like Mon-Fri, or daily")
    return DAYS.index(text)


def _minutes(text: str, where: str) -> int:
    match = _TIME.match(text)
    if not match:
        raise WindowError(f"{where}: {text!r} is not a time: use HH:MM from 00:00 to 24:00")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > 24 * 60:
        raise WindowError(f"{where}: {text!r} is past 24:00")
    return minutes


def allowed(now: datetime, tz: tzinfo, allowed_in: Schedule, blackouts: tuple[Schedule, ...] = ()) -> bool:
    """Migrations may run at ``now``: inside an allowed window (if any are set) and in no blackout."""
    if allowed_in and not allowed_in.contains(now, tz):
        return False
    return not any(b.contains(now, tz) for b in blackouts)


def next_allowed(
    now: datetime, tz: tzinfo, allowed_in: Schedule, blackouts: tuple[Schedule, ...] = ()
) -> datetime | None:
    """When migrations are next allowed (``now`` if they are); None if never within a week."""
    if allowed(now, tz, allowed_in, blackouts):
        return now
    candidates = sorted({t for s in (allowed_in, *blackouts) for t in s.boundaries(now, tz)})
    for t in candidates:
        if allowed(t, tz, allowed_in, blackouts):
            return t
    return None
