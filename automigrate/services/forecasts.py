"""Each host's CPU forecast for an evaluation, from the metric source's own history.

One question to the source per evaluation, whatever the number of hosts
(``MetricSource.host_cpu_history``: the last FORECAST_HISTORY_WINDOWS windows
in buckets of half a window, plus the next window at this time yesterday and a
week ago), one query for the hosts' latest migrations, then
``engine.forecast.forecast`` per host: the same function and the same shape of
input as the trace replay (``simulate --forecast``: two buckets per window,
history since the host's last placement change), so the two cannot drift.

A history question that fails (down, slow, a source without one) costs the
forecasts only: the hosts are judged on their window means as without
forecasts, and the message is returned for the evaluation's event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction

from automigrate.engine.forecast import Forecast, forecast
from automigrate.engine.model import CPU
from automigrate.models import Migration
from automigrate.sources import MetricSource, SourceError

log = logging.getLogger(__name__)

# Buckets per window: the replay's 5-minute steps under a 10-minute period, so both read alike.
BUCKETS_PER_WINDOW = 2
SEASONS = ((timedelta(days=1), "yesterday"), (timedelta(days=7), "a week ago"))


def history_windows() -> int:
    return max(1, int(settings.AUTOMIGRATE.get("FORECAST_HISTORY_WINDOWS", 6)))


def host_forecasts(
    source: MetricSource, host_means: dict[int, dict[str, float]], period_seconds: int, now: datetime
) -> tuple[dict[int, Forecast], str | None]:
    """host pk -> Forecast for every host with a CPU mean; (forecasts, None) or ({}, why there are none)."""
    bucket = max(1, period_seconds // BUCKETS_PER_WINDOW)
    count = history_windows() * BUCKETS_PER_WINDOW
    since = now - timedelta(seconds=bucket * count)
    seasonal = [(now - offset, now - offset + timedelta(seconds=period_seconds)) for offset, _ in SEASONS]
    try:
        # A savepoint: a failed statement must not abort the evaluation's transaction on PostgreSQL.
        with transaction.atomic():
            history = source.host_cpu_history(since, now, bucket, seasonal)
            changed = _placement_changes(since)
    except (SourceError, DatabaseError) as exc:
        log.warning("forecasts skipped: %s", exc)
        return {}, f"no forecasts this round ({_one_line(exc)}): hosts judged on their window means"
    casts = {}
    for pk, means in host_means.items():
        mean = means.get(CPU)
        if mean is None:
            continue
        recent = history.recent(pk, count)
        if pk in changed:
            # Buckets before the host's latest migration show other guests: only those after it count.
            whole = int((now - changed[pk]).total_seconds() // bucket)
            recent = recent[len(recent) - min(len(recent), whole):]
        yesterday, week_ago = (season.get(pk) for season in history.seasonal) if history.seasonal else (None, None)
        casts[pk] = forecast(recent or [mean], window_steps=BUCKETS_PER_WINDOW, step_seconds=bucket,
                             window_mean=mean, yesterday=yesterday, week_ago=week_ago, end=now)
    return casts, None


def _placement_changes(since: datetime) -> dict[int, datetime]:
    """host pk -> when its latest migration (as source or target) ended, for those that ended after ``since``."""
    latest: dict[int, datetime] = {}
    # One query; the rows are the migrations of one history span (minutes to hours), few.
    rows = Migration.objects.filter(finished_at__gt=since).order_by()
    rows = rows.values_list("source_id", "target_id", "finished_at")
    for source_pk, target_pk, at in rows:
        for pk in (source_pk, target_pk):
            if pk not in latest or at > latest[pk]:
                latest[pk] = at
    return latest


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
