"""The metric source interface: window means per host and per guest, and bucketed series.

A source answers two questions per evaluation, each in one call: "what was
the mean of each host metric over this window" for every host, then the same
for the CPU of a set of guests (the evaluator asks only for guests of hosts
that fire). Asking per host or per guest would cost one round trip each on a
1,000-host cluster.

Charts ask a third kind of question, ``host_series``: one host's metric as
bucket means, downsampled by the store itself (SQL GROUP BY, InfluxQL
``GROUP BY time()``, PromQL ``step``), so the dashboard shows what the
evaluator reads.

A source that cannot answer (down, slow, refusing credentials, answering
nonsense) raises ``SourceError`` with a one-line message naming the source,
e.g. "metric source http://10.0.0.5:8086 did not answer in 5 s".

The framework bounds every call (automigrate/sources/bounded.py,
AUTOMIGRATE_SOURCE_TIMEOUT_SECONDS); a call past it raises SourceTimedOut, a
SourceError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from automigrate.engine.model import CPU, MEM

# What a sample may be; anything outside is ignored and counted, never averaged.
# CPU: telegraf's usage_active is 100 - idle and may overshoot by float noise (the
# same allowance /write makes). Memory: bytes, at most 1 PiB when the host's size is unknown.
CPU_NOISE_PERCENT = 0.5
MAX_MEM_BYTES = 2**50
VALID_RANGES: dict[str, tuple[float, float]] = {
    CPU: (-CPU_NOISE_PERCENT, 100 + CPU_NOISE_PERCENT),
    MEM: (0.0, float(MAX_MEM_BYTES)),
}


def clip(metric: str, value: float) -> float:
    """A mean of valid samples as the engine reads it: CPU within 0..100."""
    return min(max(value, 0.0), 100.0) if metric == CPU else value


class SourceError(Exception):
    """The metric source did not answer usefully; the message is one line naming it and why."""



@dataclass(frozen=True)
class WindowMeans:
    # host pk -> {metric name: mean}; a metric without samples in the window is absent.
    hosts: dict[int, dict[str, float]] = field(default_factory=dict)
    # guest pk -> mean cpu.usage_active (% of its own vCPUs); absent = no samples.
    guests: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CpuHistory:
    """Every host's recent CPU as bucket means, plus its mean over a few earlier ranges (one question).

    ``buckets[pk][k]`` is the mean of the host's valid CPU samples in
    ``(until - (k+1)·bucket, until - k·bucket]``: k = 0 is the bucket ending at
    ``until``; a bucket without samples is absent. ``seasonal[i][pk]`` is the
    mean over the i-th range asked (e.g. the next window, a day ago).
    """

    until: datetime
    bucket_seconds: int
    buckets: dict[int, dict[int, float]] = field(default_factory=dict)
    seasonal: tuple[dict[int, float], ...] = ()

    def recent(self, pk: int, count: int) -> list[float]:
        """The host's last ``count`` buckets, oldest first, up to the first gap counted back from ``until``."""
        mine = self.buckets.get(pk, {})
        values = []
        for k in range(count):
            if k not in mine:
                break
            values.append(mine[k])
        return values[::-1]


class MetricSource(ABC):
    name = "base"
    # Whether the source reads our own sample tables (filled by the simulator and /write).
    # External stores keep their own samples, so nothing needs to be written to ours.
    reads_our_tables = True

    def __init__(self) -> None:
        # Samples outside VALID_RANGES seen by the latest question, by metric ("guest cpu" for guests).
        self.ignored: dict[str, int] = {}
    # True for sources reading our own sample tables: bounded by the database's
    # statement_timeout in the caller's thread, not by a thread of their own.
    bounded_by_database = False
    # True for sources that bound each of their outside calls themselves (automigrate.bounded),
    # so that the rest of their work, e.g. reading our database, stays in the caller's thread.
    bounds_its_own_calls = False

    def refresh_inventory(self) -> None:  # noqa: B027 - optional for sources
        """Bring hosts and guests (placement, status) up to date before a decision.

        Sources whose inventory is our own database (the simulator, pushed
        samples) have nothing to do.
        """

    def describe(self) -> str:
        """Where the metrics come from, for messages and `manage.py metrics probe`."""
        return f"metric source {self.name}"

    @abstractmethod
    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        """host pk -> {metric: mean over (since, until]} for every host with samples."""

    @abstractmethod
    def guest_means(
        self, since: datetime, until: datetime, guest_ids: Collection[int] | None = None
    ) -> dict[int, float]:
        """guest pk -> mean CPU over (since, until], for ``guest_ids`` (None: every guest)."""

    def window_means(self, since: datetime, until: datetime) -> WindowMeans:
        """Both, for every host and guest."""
        return WindowMeans(hosts=self.host_means(since, until), guests=self.guest_means(since, until))

    def host_cpu_history(
        self, since: datetime, until: datetime, bucket_seconds: int,
        seasonal: Sequence[tuple[datetime, datetime]] = (),
    ) -> CpuHistory:
        """Every host's CPU over ``(since, until]`` in buckets ending at ``until`` (CpuHistory), and
        its mean over each ``(start, end]`` of ``seasonal``: one query or request for the whole cluster.

        For forecasts (engine/forecast.py). A source without it raises SourceError; the
        evaluation then goes on without forecasts and says so.
        """
        raise SourceError(f"{self.describe()} has no history query, so no forecasts")

    def host_series(
        self, host_id: int, metric: str, start: datetime, end: datetime, bucket_seconds: int
    ) -> list[tuple[datetime, float]]:
        """(bucket start, mean) of one host's metric between ``start`` and ``end``, oldest first.

        Buckets are ``bucket_seconds`` wide and aligned on the epoch, so a chart
        refreshed every few seconds keeps its points. The default reads our own
        sample tables (what the simulator and /write fill).
        """
        from automigrate.sources.database import bucketed_host_series

        return bucketed_host_series(host_id, metric, start, end, bucket_seconds)


__all__ = ["CPU", "MEM", "VALID_RANGES", "CpuHistory", "MetricSource", "SourceError", "WindowMeans", "clip"]
