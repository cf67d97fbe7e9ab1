"""The metric source interface: window means per host and per guest.

A source answers two questions per evaluation, each in one call: "what was
the mean of each host metric over this window" for every host, then the same
for the CPU of a set of guests (the evaluator asks only for guests of hosts
that fire). Asking per host or per guest would cost one round trip each on a
1,000-host cluster.

A source that cannot answer raises ``SourceError`` with a one-line message
naming it. The framework bounds every call (automigrate/sources/bounded.py,
AUTOMIGRATE_SOURCE_TIMEOUT_SECONDS); a call past it raises SourceTimedOut, a
SourceError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime


class SourceError(Exception):
    """The metric source did not answer usefully; the message is one line naming it and why."""


@dataclass(frozen=True)
class WindowMeans:
    # host pk -> {metric name: mean}; a metric without samples in the window is absent.
    hosts: dict[int, dict[str, float]] = field(default_factory=dict)
    # guest pk -> mean cpu.usage_active (% of its own vCPUs); absent = no samples.
    guests: dict[int, float] = field(default_factory=dict)


class MetricSource(ABC):
    name = "base"
    # True for sources reading our own sample tables: bounded by the database's
    # statement_timeout in the caller's thread, not by a thread of their own.
    bounded_by_database = False

    def refresh_inventory(self) -> None:  # noqa: B027 - optional for sources
        """Bring hosts and guests (placement, status) up to date before a decision.

        Sources whose inventory is our own database (the simulator, pushed
        samples) have nothing to do.
        """

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
