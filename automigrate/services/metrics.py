"""Window means for an evaluation, and sample retention.

The means come from the configured metric source; the database source
answers each question with one aggregate query (GROUP BY host, metric or
GROUP BY guest) whatever the number of hosts and guests (see
automigrate.sources.database).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from automigrate.models import GuestSample, HostSample
from automigrate.sources import WindowMeans, get_source

log = logging.getLogger(__name__)


def window_means(period_seconds: int, now: datetime | None = None) -> WindowMeans:
    """Means of every host metric and guest CPU over the last ``period_seconds``."""
    now = now or timezone.now()
    return get_source().window_means(now - timedelta(seconds=period_seconds), now)


def host_means(period_seconds: int, now: datetime) -> dict[int, dict[str, float]]:
    """host pk -> {metric: mean} over the last ``period_seconds``."""
    return get_source().host_means(now - timedelta(seconds=period_seconds), now)


def guest_means(period_seconds: int, now: datetime, guest_ids: Collection[int] | None = None) -> dict[int, float]:
    """guest pk -> mean CPU over the last ``period_seconds``, for ``guest_ids`` (None: all)."""
    return get_source().guest_means(now - timedelta(seconds=period_seconds), now, guest_ids)


def prune_samples(now: datetime | None = None) -> tuple[int, int]:
    """Delete samples older than SAMPLE_RETENTION_DAYS; returns (host rows, guest rows) deleted.

    Each is one DELETE: the sample tables have nothing pointing at them, so
    Django deletes without loading rows.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=float(settings.AUTOMIGRATE["SAMPLE_RETENTION_DAYS"]))
    hosts, _ = HostSample.objects.filter(time__lt=cutoff).delete()
    guests, _ = GuestSample.objects.filter(time__lt=cutoff).delete()
    return hosts, guests


def sample_source(now: datetime | None = None) -> str:
    """One sampling round of a source that samples (its platform reports current values only).

    The source bounds its own call to the platform (our database writes stay in
    this thread); a failure is logged and the round skipped, so the next one,
    AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS later, tries again.
    """
    from automigrate.bounded import CallTimedOut
    from automigrate.platforms import PlatformError

    source = get_source()
    if not hasattr(source, "sample"):
        return f"{source.name} does not sample"
    try:
        return str(source.sample(now or timezone.now()))
    except (PlatformError, CallTimedOut) as exc:
        log.warning("metric sampling skipped: %s", exc)
        return f"skipped: {exc}"
