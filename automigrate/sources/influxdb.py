"""InfluxDB 1.x (and the v1 API of InfluxDB 2.x) as the metric source, through the ``influxdb`` client.

Every question is one POST /query holding several InfluxQL statements: for the
hosts, the mean of valid samples per host tag for CPU and for memory, and the
count of out-of-range samples (left out of the means, counted); for guests the
same on ``vm_cpu``. The window is ``time > since AND time <= until``, exactly
the database source's (since, until]. A GROUP BY merges every series of one
host (other tags differ), so the mean is over all of its samples.

Charts: ``GROUP BY time(<bucket>s) fill(none)``, buckets aligned on the epoch
like the database source's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from automigrate.engine.model import CPU, MEM
from automigrate.sources.base import CpuHistory
from automigrate.sources.remote import GUEST_CPU, RemoteSource, Series, Totals, alternation, one_line, valid_range

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nanoseconds(moment: datetime) -> int:
    # Integer arithmetic: a float of nanoseconds since 1970 loses microseconds.
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def measurement_field(series: Series) -> tuple[str, str]:
    measurement, _, name = series.name.partition(".")
    return measurement, name or "value"


class InfluxDBSource(RemoteSource):
    name = "influxdb"
    default_series = {CPU: "cpu.usage_active", MEM: "mem.available", GUEST_CPU: "vm_cpu.usage_active"}

    def __init__(self) -> None:
        super().__init__()
        config = self.config
        parts = urlsplit(config.url)
        headers = {"Authorization": f"Token {config.token}"} if config.token else None
        self.client = InfluxDBClient(
            host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 8086),
            path=parts.path.strip("/"), ssl=parts.scheme == "https", verify_ssl=config.verify_tls,
            username=config.username or None, password=config.password or None,
            database=config.database, timeout=config.timeout,
            retries=1,  # one try: the evaluation's time bound is the timeout, not three of them
            headers=headers,
        )

    # --- the questions -------------------------------------------------------------

    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        self.ignored = {}
        window = self._window(since, until)
        tags = self.config.host_tags
        statements = []
        for metric, series in ((CPU, self.config.host_cpu), (MEM, self.config.host_mem)):
            statements += self._window_statements(series, metric, tags, window)
        results = self._query(statements)
        lookup = self.host_lookup()
        totals = Totals()
        per_metric = len(tags) + 1
        for index, metric in enumerate((CPU, MEM)):
            self._collect(results[index * per_metric:(index + 1) * per_metric], metric, tags, lookup, totals)
        means: dict[int, dict[str, float]] = {}
        for (pk, metric), mean in totals.means().items():
            means.setdefault(pk, {})[metric] = mean
        return means

    def guest_means(
        self, since: datetime, until: datetime, guest_ids: Collection[int] | None = None
    ) -> dict[int, float]:
        self.ignored = {}
        if guest_ids is not None and not guest_ids:
            return {}
        lookup = self.guest_lookup(guest_ids)
        if not lookup:
            return {}
        tags = self.config.guest_tags
        window = self._window(since, until)
        if guest_ids is not None:
            window += f" AND {self._tag_match(tags, lookup)}"
        results = self._query(self._window_statements(self.config.guest_cpu, GUEST_CPU, tags, window))
        totals = Totals()
        self._collect(results, GUEST_CPU, tags, lookup, totals)
        return {pk: mean for (pk, _), mean in totals.means().items()}

    def host_cpu_history(
        self, since: datetime, until: datetime, bucket_seconds: int,
        seasonal: Sequence[tuple[datetime, datetime]] = (),
    ) -> CpuHistory:
        """One POST: per host tag, valid CPU samples in buckets ending at ``until``, then each seasonal mean.

        InfluxDB's buckets are closed at their start; shifted by 1 ns (``GROUP BY time(b, offset)``)
        they are ``(until - (k+1)·b, until - k·b]`` for nanosecond stamps, as the database source's.
        """
        series, tags = self.config.host_cpu, self.config.host_tags
        measurement, name = measurement_field(series)
        low, high = valid_range(CPU)
        field, source = ident(name), ident(measurement)
        bucket_ns = int(bucket_seconds) * 10**9
        offset = (nanoseconds(until) + 1) % bucket_ns
        ranges = [(since, until), *seasonal]
        statements = []
        for index, (start, end) in enumerate(ranges):
            where = " AND ".join([*self._fixed(series), self._window(start, end),
                                  f"{field} >= {low!r}", f"{field} <= {high!r}"])
            by_time = f"time({int(bucket_seconds)}s, {offset}ns), " if index == 0 else ""
            for position, tag in enumerate(tags):
                absent = "".join(f" AND {ident(before)} = ''" for before in tags[:position])
                statements.append(f"SELECT mean({field}) FROM {source} WHERE {where}{absent}"
                                  f" GROUP BY {by_time}{ident(tag)}")
        results = self._query(statements)
        lookup = self.host_lookup()
        buckets: dict[int, dict[int, float]] = {}
        seasons: list[dict[int, float]] = [{} for _ in seasonal]
        end_ms = until.timestamp() * 1000
        for number, result in enumerate(results):
            index = number // len(tags)
            for (_, series_tags), points in result.items():
                pk = self.pk_of(series_tags or {}, tags, lookup)
                for point in points:
                    if pk is None or point.get("mean") is None:
                        continue
                    if index == 0:
                        k = round((end_ms - float(point["time"])) / (bucket_seconds * 1000)) - 1
                        if k >= 0:
                            buckets.setdefault(pk, {})[k] = float(point["mean"])
                    else:
                        seasons[index - 1][pk] = float(point["mean"])
        return CpuHistory(until=until, bucket_seconds=bucket_seconds, buckets=buckets, seasonal=tuple(seasons))

    def host_series(
        self, host_id: int, metric: str, start: datetime, end: datetime, bucket_seconds: int
    ) -> list[tuple[datetime, float]]:
        keys = self.host_keys(host_id)
        if not keys:
            return []
        series = self.config.host_cpu if metric == CPU else self.config.host_mem
        measurement, name = measurement_field(series)
        low, high = valid_range(metric)
        where = [
            *self._fixed(series),
            f"{ident(name)} >= {low!r}", f"{ident(name)} <= {high!r}",
            self._tag_match(self.config.host_tags, keys),
            f"time >= {nanoseconds(start)} AND time <= {nanoseconds(end)}",
        ]
        statement = (
            f"SELECT mean({ident(name)}) FROM {ident(measurement)} WHERE {' AND '.join(where)}"
            f" GROUP BY time({int(bucket_seconds)}s) fill(none)"
        )
        (result,) = self._query([statement])
        points = []
        for point in result.get_points():
            if point.get("mean") is not None:
                points.append((datetime.fromtimestamp(point["time"] / 1000, tz=UTC), float(point["mean"])))
        return points

    # --- InfluxQL ------------------------------------------------------------------

    @staticmethod
    def _window(since: datetime, until: datetime) -> str:
        return f"time > {nanoseconds(since)} AND time <= {nanoseconds(until)}"

    @staticmethod
    def _fixed(series: Series) -> list[str]:
        return [f"{ident(key)} = {literal(value)}" for key, value in series.fixed_tags]

    def _window_statements(self, series: Series, metric: str, tags: Sequence[str], window: str) -> list[str]:
        """Per host tag: the mean of valid samples of series named by it; then the count of out-of-range ones.

        One GROUP BY per tag of ``tags`` (series lacking the earlier tags), not one GROUP BY over all of
        them: grouping by two tags costs InfluxDB nearly twice as much, and on a store where every
        series has the first tag the later statements find nothing at once. InfluxDB's mean over a
        group is already the mean of every sample of its series. The out-of-range count is not
        grouped: it only says how many were left out.
        """
        measurement, name = measurement_field(series)
        low, high = valid_range(metric)
        field, source = ident(name), ident(measurement)
        where = " AND ".join([*self._fixed(series), window])
        statements = []
        for index, tag in enumerate(tags):
            absent = "".join(f" AND {ident(before)} = ''" for before in tags[:index])
            statements.append(
                f"SELECT mean({field}) FROM {source} WHERE {where}{absent}"
                f" AND {field} >= {low!r} AND {field} <= {high!r} GROUP BY {ident(tag)}"
            )
        statements.append(
            f"SELECT count({field}) FROM {source} WHERE {where} AND ({field} < {low!r} OR {field} > {high!r})"
        )
        return statements

    @staticmethod
    def _tag_match(tags: Sequence[str], keys: Iterable[str]) -> str:
        """The series whose first present tag of ``tags`` is one of ``keys`` (as tags.first_tag reads them)."""
        pattern = "/^(" + alternation(keys) + ")$/"
        options = []
        for index, tag in enumerate(tags):
            absent = [f"{ident(before)} = ''" for before in tags[:index]]
            options.append("(" + " AND ".join([*absent, f"{ident(tag)} =~ {pattern}"]) + ")")
        return "(" + " OR ".join(options) + ")"

    def _collect(self, results: list, metric: str, tags: Sequence[str], lookup, totals: Totals) -> None:
        """Means per host (or guest) from one metric's statements (see _window_statements)."""
        *grouped, invalid = results
        for result in grouped:
            for (_, series_tags), points in result.items():
                pk = self.pk_of(series_tags or {}, tags, lookup)
                for point in points:
                    if pk is not None and point.get("mean") is not None:
                        # A host named by two tags in different series (rare) gets the mean of both means.
                        totals.add(pk, metric, float(point["mean"]), 1)
        for point in invalid.get_points():
            self.count_ignored(metric, point.get("count") or 0)

    def _query(self, statements: list[str]) -> list:
        """One POST /query with every statement; one ResultSet per statement."""
        try:
            results = self.bounded_request(self.client.query, ";".join(statements), epoch="ms", method="POST")
        except requests.exceptions.Timeout:
            raise self.timed_out() from None
        except requests.exceptions.ConnectionError as exc:
            raise self.unreachable(exc) from None
        except InfluxDBClientError as exc:
            if exc.code in (401, 403):
                raise self.refused(exc.code) from None
            raise self.fail(f"refused the query: {one_line(_message(exc.content))}") from None
        except InfluxDBServerError as exc:
            raise self.fail(f"answered a server error: {one_line(_message(exc.args[0] if exc.args else ''))}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise self.fail(f"answered something that is not an InfluxDB query result ({one_line(str(exc))})") from None
        results = results if isinstance(results, list) else [results]
        if len(results) != len(statements):
            raise self.fail(f"answered {len(results)} results to {len(statements)} statements")
        return results


def _message(content) -> str:
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return str(content)
