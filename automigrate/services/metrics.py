"""Window means and chart series from the configured metric source.

The means come from the configured metric source; the database source
answers each question with one aggregate query (GROUP BY host, metric or
GROUP BY guest) whatever the number of hosts and guests (see
automigrate.sources.database), the external stores with one request each.

A source that cannot answer raises SourceError. The evaluator handles it
itself (one event, hosts stale); pages that only show numbers read inside
``tolerating_source_errors()``, where a failing read returns no data and the
message is kept for a banner instead of turning the page into a 500.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TypeVar

from django.utils import timezone

from automigrate.sources import MetricSource, SourceError, WindowMeans, get_source

log = logging.getLogger(__name__)
T = TypeVar("T")

# Set inside tolerating_source_errors(): the list the failures of this context go to.
_tolerated: ContextVar[list[str] | None] = ContextVar("tolerated_source_errors", default=None)


@contextlib.contextmanager
def tolerating_source_errors() -> Iterator[list[str]]:
    """Within the block, reads from a failing source return no data; the messages collect in the list yielded."""
    problems: list[str] = []
    token = _tolerated.set(problems)
    try:
        yield problems
    finally:
        _tolerated.reset(token)


def _ask(question: Callable[[], T], empty: T) -> T:
    try:
        return question()
    except SourceError as exc:
        problems = _tolerated.get()
        if problems is None:
            raise
        log.warning("%s", exc)
        if str(exc) not in problems:
            problems.append(str(exc))
        return empty


def window_means(period_seconds: int, now: datetime | None = None) -> WindowMeans:
    """Means of every host metric and guest CPU over the last ``period_seconds``."""
    now = now or timezone.now()
    return _ask(lambda: get_source().window_means(now - timedelta(seconds=period_seconds), now), WindowMeans())


def host_means(
    period_seconds: int, now: datetime, *, source: MetricSource | None = None
) -> dict[int, dict[str, float]]:
    """host pk -> {metric: mean} over the last ``period_seconds`` (``source``: this one, not a new one)."""
    source = source or get_source()
    return _ask(lambda: source.host_means(now - timedelta(seconds=period_seconds), now), {})


def guest_means(
    period_seconds: int, now: datetime, guest_ids: Collection[int] | None = None, *,
    source: MetricSource | None = None,
) -> dict[int, float]:
    """guest pk -> mean CPU over the last ``period_seconds``, for ``guest_ids`` (None: all)."""
    source = source or get_source()
    return _ask(lambda: source.guest_means(now - timedelta(seconds=period_seconds), now, guest_ids), {})


def host_series(
    host_id: int, metric: str, start: datetime, end: datetime, bucket_seconds: int
) -> list[tuple[datetime, float]]:
    """(bucket start, mean) of one host's metric, downsampled by the source."""
    return _ask(lambda: get_source().host_series(host_id, metric, start, end, bucket_seconds), [])


def prune_samples(now: datetime | None = None):
    """Samples and roll-ups past their retention: automigrate.services.storage.prune_samples."""
    from automigrate.services import storage

    return storage.prune_samples(now)


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
