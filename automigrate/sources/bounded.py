"""Every metric-source call bounded by the framework, whatever the source does.

``sources.get_source()`` hands out a ``BoundedSource``: each public call of
the source (``host_means``, ``guest_means``, ``window_means``,
``refresh_inventory``, and any series method a source adds) runs through
``automigrate.bounded.call_bounded`` with AUTOMIGRATE_SOURCE_TIMEOUT_SECONDS.
Past it the call raises ``SourceTimedOut``, a ``SourceError``: the evaluator
treats the hosts as stale for that round and says so in one event, and the
overview shows a banner (automigrate.services.outside).

Sources that read our own tables (the database source, which the simulator
fills too) set ``bounded_by_database = True``: they run in the caller's
thread and transaction, bounded by the database's ``statement_timeout``.
"""

from __future__ import annotations

from datetime import datetime
from functools import wraps

from django.conf import settings

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.sources.base import MetricSource, SourceError, WindowMeans

# Plain accessors: answered from configuration, never from the network.
# Not bounded here: ``sample`` writes our own tables and bounds its calls to the
# platform itself (a thread of ours would need its own database connection).
_NOT_CALLS = frozenset({"describe", "check", "sample"})


class SourceTimedOut(SourceError, CallTimedOut):
    """A metric-source call did not answer within its bound."""

    def __init__(self, what: str, seconds: float, *, still_busy: bool = False):
        CallTimedOut.__init__(self, what, seconds, still_busy=still_busy)


def source_timeout() -> float:
    return float(settings.AUTOMIGRATE["SOURCE_TIMEOUT_SECONDS"])


class BoundedSource(MetricSource):
    """Wraps a source so that none of its calls can hold the caller past its bound."""

    def __init__(self, inner: MetricSource):  # no super().__init__: state stays the inner source's
        self.inner = inner
        self.name = inner.name
        self.bounded_by_database = inner.bounded_by_database
        self.reads_our_tables = inner.reads_our_tables

    # Methods and state MetricSource itself defines would otherwise be the wrapper's own
    # (base-class defaults), not the inner source's: each is forwarded explicitly.
    @property
    def ignored(self) -> dict[str, int]:
        return self.inner.ignored

    @ignored.setter
    def ignored(self, value: dict[str, int]) -> None:
        self.inner.ignored = value

    def describe(self) -> str:
        return self.inner.describe()

    def host_series(self, *args, **kwargs):
        return self._call("host_series", *args, **kwargs)

    def _call(self, method_name: str, *args, **kwargs):
        method = getattr(self.inner, method_name)
        if self.bounded_by_database or self.inner.bounds_its_own_calls:
            return method(*args, **kwargs)
        seconds = source_timeout()
        what = f"metric source {self.inner.name} {method_name}"
        try:
            # At most one stuck thread per call kind: the next evaluation fails at once instead.
            return call_bounded(method, *args, seconds=seconds, what=what,
                                key=(id(type(self.inner)), method_name), **kwargs)
        except CallTimedOut as exc:
            from automigrate.services import outside

            outside.note_timeout("source", f"{self.inner.name} {method_name}", str(exc))
            raise SourceTimedOut(what, seconds, still_busy=exc.still_busy) from None

    def __getattr__(self, name: str):
        value = getattr(self.inner, name)
        if name.startswith("_") or name in _NOT_CALLS or not callable(value):
            return value

        @wraps(value)
        def bounded_call(*args, **kwargs):
            return self._call(name, *args, **kwargs)

        return bounded_call

    def refresh_inventory(self) -> None:
        return self._call("refresh_inventory")

    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        return self._call("host_means", since, until)

    def guest_means(self, since: datetime, until: datetime, guest_ids=None) -> dict[int, float]:
        return self._call("guest_means", since, until, guest_ids)

    def window_means(self, since: datetime, until: datetime) -> WindowMeans:
        return self._call("window_means", since, until)

    def host_cpu_history(self, *args, **kwargs):
        return self._call("host_cpu_history", *args, **kwargs)


def bounded(source: MetricSource) -> BoundedSource:
    """``source`` with every call bounded (a source already wrapped is returned as is)."""
    return source if isinstance(source, BoundedSource) else BoundedSource(source)
