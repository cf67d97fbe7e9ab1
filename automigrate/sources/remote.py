"""What the external stores (InfluxDB, VictoriaMetrics, Prometheus) share.

Their settings (``AUTOMIGRATE_METRIC_*``), how a series' tags become our host
and guest primary keys (the same tags as /write: automigrate.sources.tags),
how partial sums from several series of one host become one exact mean, and
how a failed request becomes one readable SourceError line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, Host
from automigrate.sources import tags
from automigrate.sources.base import VALID_RANGES, MetricSource, SourceError, clip

GUEST_CPU = "guest cpu"  # the key ignored-sample counts use for guests' CPU


@dataclass(frozen=True)
class Series:
    """Where one of our metrics lives in the store: a name (measurement.field or metric) and fixed tags."""

    name: str
    fixed_tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RemoteConfig:
    url: str
    database: str
    username: str
    password: str
    token: str
    verify_tls: bool
    timeout: float
    host_tags: tuple[str, ...]
    guest_tags: tuple[str, ...]
    host_cpu: Series
    host_mem: Series
    guest_cpu: Series

    @property
    def shown_url(self) -> str:
        """The URL without credentials, for messages and logs."""
        parts = urlsplit(self.url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_fixed_tags(text: str) -> tuple[tuple[str, str], ...]:
    """``cpu=cpu-total,foo=bar`` -> (("cpu", "cpu-total"), ("foo", "bar")); ImproperlyConfigured names the bad item."""
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(
                f"AUTOMIGRATE_METRIC_HOST_CPU_TAGS: {item!r} is not tag=value (e.g. cpu=cpu-total)"
            )
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def load_config(defaults: Mapping[str, str]) -> RemoteConfig:
    """The AUTOMIGRATE_METRIC_* settings, with ``defaults`` (per store) for the series names."""
    conf = settings.AUTOMIGRATE
    url = (conf.get("METRIC_URL") or "").strip()
    if not url:
        raise ImproperlyConfigured(
            f"AUTOMIGRATE_METRIC_SOURCE={conf['METRIC_SOURCE']} needs AUTOMIGRATE_METRIC_URL"
            " (e.g. http://127.0.0.1:8086)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"AUTOMIGRATE_METRIC_URL={url!r}: use http://host:port or https://host:port")
    timeout = float(conf.get("METRIC_TIMEOUT_SECONDS", 5))
    if not 0 < timeout <= 600:
        raise ImproperlyConfigured(f"AUTOMIGRATE_METRIC_TIMEOUT_SECONDS={timeout:g}: use more than 0, at most 600")
    host_tags, guest_tags = tuple(tags.host_tags()), tuple(tags.guest_tags())
    if not host_tags or not guest_tags:
        raise ImproperlyConfigured("AUTOMIGRATE_INGEST_HOST_TAGS and _GUEST_TAGS need at least one tag name each")
    return RemoteConfig(
        url=url.rstrip("/"),
        database=conf.get("METRIC_DATABASE") or "telegraf",
        username=conf.get("METRIC_USERNAME") or parts.username or "",
        password=conf.get("METRIC_PASSWORD") or parts.password or "",
        token=conf.get("METRIC_TOKEN") or "",
        verify_tls=bool(conf.get("METRIC_VERIFY_TLS", True)),
        timeout=timeout,
        host_tags=host_tags,
        guest_tags=guest_tags,
        host_cpu=Series(conf.get("METRIC_HOST_CPU_SERIES") or defaults[CPU],
                        parse_fixed_tags(conf.get("METRIC_HOST_CPU_TAGS", "cpu=cpu-total"))),
        host_mem=Series(conf.get("METRIC_HOST_MEM_SERIES") or defaults[MEM]),
        guest_cpu=Series(conf.get("METRIC_GUEST_CPU_SERIES") or defaults[GUEST_CPU]),
    )


# RE2's metacharacters (InfluxDB's and Prometheus' regexes). Only these are escaped: a plain
# alternation of literals (a|b|c) is what the stores turn into a fast set lookup.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$/")


def regex_escape(value: str) -> str:
    """A literal for RE2: its metacharacters (and ``/``, InfluxQL's regex delimiter) backslashed."""
    return "".join("\\" + char if char in _RE2_SPECIAL else char for char in value)


def alternation(values: Iterable[str]) -> str:
    return "|".join(regex_escape(value) for value in sorted(set(values)))


class Totals:
    """Sums and counts per (pk, metric): several series of one host (other tags differ) give one exact mean."""

    def __init__(self) -> None:
        self.sums: dict[tuple[int, str], float] = {}
        self.counts: dict[tuple[int, str], float] = {}

    def add(self, pk: int, metric: str, total: float, count: float) -> None:
        if count > 0:
            key = (pk, metric)
            self.sums[key] = self.sums.get(key, 0.0) + total
            self.counts[key] = self.counts.get(key, 0.0) + count

    def means(self) -> dict[tuple[int, str], float]:
        return {key: clip(key[1] if key[1] != GUEST_CPU else CPU, total / self.counts[key])
                for key, total in self.sums.items()}


class RemoteSource(MetricSource):
    """An external store of telegraf's series. Subclasses ask the questions; this maps the answers."""

    reads_our_tables = False
    # Each HTTP request is bounded here (``bounded_request``), not the whole method in a thread
    # by BoundedSource: mapping series to hosts reads our database, which must stay in the
    # caller's thread (its connection, its transaction).
    bounds_its_own_calls = True
    # Our metric -> the store's telegraf name, for RemoteConfig defaults.
    default_series: Mapping[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self.config = load_config(self.default_series)

    def describe(self) -> str:
        return f"metric source {self.config.shown_url}"

    def bounded_request(self, request, *args, **kwargs):
        """``request(*args, **kwargs)`` (one HTTP call to the store) within the source's bound."""
        from automigrate.bounded import CallTimedOut, call_bounded
        from automigrate.sources.bounded import source_timeout

        seconds = min(source_timeout(), 2 * self.config.timeout + 1)
        try:
            return call_bounded(request, *args, seconds=seconds, what=f"metric source {self.name} query",
                                key=(id(type(self)), "query"), **kwargs)
        except CallTimedOut as exc:
            from automigrate.services import outside

            outside.note_timeout("source", f"{self.name} query", str(exc))
            raise self.timed_out() from None

    # --- errors ----------------------------------------------------------------

    def fail(self, why: str) -> SourceError:
        return SourceError(f"{self.describe()} {why}")

    def timed_out(self) -> SourceError:
        return self.fail(f"did not answer in {self.config.timeout:g} s")

    def refused(self, status: int) -> SourceError:
        return self.fail(
            f"refused the credentials (HTTP {status}): check AUTOMIGRATE_METRIC_USERNAME, _PASSWORD or _TOKEN"
        )

    def unreachable(self, exc: Exception) -> SourceError:
        reason = str(exc)
        for known in ("Connection refused", "Name or service not known", "No route to host",
                      "certificate verify failed", "Temporary failure in name resolution"):
            if known in reason:
                reason = known[0].lower() + known[1:]
                break
        else:
            reason = _one_line(reason)
        return self.fail(f"did not answer: {reason}")

    # --- inventory ---------------------------------------------------------------

    @staticmethod
    def host_lookup() -> dict[str, int]:
        """Every host's tag value -> pk (name, then external id), one query."""
        return tags.keys_of(Host.objects.order_by().values_list("pk", "name", "external_id"))

    @staticmethod
    def guest_lookup(guest_ids: Collection[int] | None) -> dict[str, int]:
        rows = Guest.objects.order_by()
        if guest_ids is not None:
            rows = rows.filter(pk__in=list(guest_ids))
        return tags.keys_of(rows.values_list("pk", "name", "external_id"))

    @staticmethod
    def host_keys(host_id: int) -> list[str]:
        row = Host.objects.filter(pk=host_id).values_list("name", "external_id").first()
        return [key for key in (row or ()) if key]

    def pk_of(self, series_tags: Mapping[str, str], names: Iterable[str], lookup: Mapping[str, int]) -> int | None:
        key = tags.first_tag(series_tags, names)
        return None if key is None else lookup.get(key)

    def count_ignored(self, metric: str, count: float) -> None:
        if count:
            self.ignored[metric] = self.ignored.get(metric, 0) + int(count)


def valid_range(metric: str) -> tuple[float, float]:
    return VALID_RANGES[CPU if metric == GUEST_CPU else metric]


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def _one_line(text: str, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


one_line = _one_line
