"""Does the metric source answer, and for which of our hosts and guests does it have numbers?

Used by ``manage.py metrics probe`` (hosts and guests) and by the system check
(hosts only: one request, so `manage.py check` stays quick).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from automigrate.models import Guest, Host
from automigrate.sources import MetricSource, SourceError, get_source

SHOWN = 10


@dataclass
class Probe:
    source: str
    window_seconds: int
    error: str | None = None
    seconds: float = 0.0
    hosts: int = 0
    hosts_without_data: list[str] = field(default_factory=list)
    guests: int | None = None  # None: guests were not asked
    guests_without_data: list[str] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def lines(self) -> list[str]:
        if self.error:
            return [self.error]
        window = f"{self.window_seconds} s"
        lines = [f"{self.source}: answered in {self.seconds * 1000:.0f} ms"]
        lines.append(_coverage("hosts", self.hosts, self.hosts_without_data, window))
        if self.guests is not None:
            lines.append(_coverage("guests", self.guests, self.guests_without_data, window))
        if self.ignored:
            counts = ", ".join(f"{metric} {count}" for metric, count in sorted(self.ignored.items()))
            lines.append(f"ignored out-of-range samples: {counts}")
        return lines


def _coverage(kind: str, total: int, missing: list[str], window: str) -> str:
    text = f"{kind}: {total - len(missing)} of {total} have data in the last {window}"
    if missing:
        shown = ", ".join(missing[:SHOWN]) + (f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else "")
        text += f"; none for {shown}"
    return text


def probe(window_seconds: int = 300, *, guests: bool = True, now: datetime | None = None,
          source: MetricSource | None = None) -> Probe:
    """Ask the source for every host's (and guest's) window means, as an evaluation would."""
    source = source or get_source()
    now = now or timezone.now()
    since = now - timedelta(seconds=window_seconds)
    result = Probe(source=source.describe(), window_seconds=window_seconds)
    began = time.monotonic()
    try:
        host_means = source.host_means(since, now)
        result.ignored.update(getattr(source, "ignored", {}))
        guest_means = {}
        if guests:
            guest_means = source.guest_means(since, now)  # each question counts its own ignored samples
            for metric, count in getattr(source, "ignored", {}).items():
                result.ignored[metric] = result.ignored.get(metric, 0) + count
    except SourceError as exc:
        result.error = str(exc)
        return result
    result.seconds = time.monotonic() - began
    host_names = dict(Host.objects.values_list("pk", "name"))
    result.hosts = len(host_names)
    result.hosts_without_data = sorted(name for pk, name in host_names.items() if pk not in host_means)
    if guests:
        guest_names = dict(Guest.objects.values_list("pk", "name"))
        result.guests = len(guest_names)
        result.guests_without_data = sorted(name for pk, name in guest_names.items() if pk not in guest_means)
    return result
