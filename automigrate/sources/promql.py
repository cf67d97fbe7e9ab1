"""What Prometheus and VictoriaMetrics share: PromQL over HTTP (``/api/v1/query``, ``/api/v1/query_range``).

One request per question. For the hosts it asks, in one PromQL expression
(parts told apart by an ``am_q`` label), the sum, count, min and max of each
host tag set's samples in the window, for CPU and memory; the mean is
sum/count, exact over all of a host's series. PromQL cannot drop single
samples from a range, so when min or max shows a value outside the valid
range (rare: a broken sender) the raw samples of just those series are read
in one more request and averaged here without the bad ones, which are counted.

Windows: ``(since, until]``. A Prometheus range ``[d]`` is closed at its start
(a sample exactly on ``since`` would count), so Prometheus asks for
``[d - 1ms]``; VictoriaMetrics' ranges already leave the start out.

Charts: ``query_range`` with ``step`` = the bucket, evaluated 1 ms before each
bucket's end, so a bucket holds [k·b, (k+1)·b) as the database source's do.
VictoriaMetrics answers no point for a time still in the future (or within
about a second of now), so its chart lacks the current, still-filling bucket.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

import requests

from automigrate.engine.model import CPU, MEM
from automigrate.sources.base import CpuHistory
from automigrate.sources.remote import (
    GUEST_CPU,
    RemoteSource,
    Series,
    Totals,
    alternation,
    one_line,
    valid_range,
)

STATS = ("sum", "count", "min", "max")


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(series: Series, matchers: Sequence[str] = ()) -> str:
    parts = [f"__name__={quoted(series.name)}"]
    parts += [f"{key}={quoted(value)}" for key, value in series.fixed_tags]
    parts += list(matchers)
    return "{" + ", ".join(parts) + "}"


def key_matchers(tags: Sequence[str], keys: Collection[str] | None) -> list[list[str]]:
    """One matcher list per tag: series whose first present tag of ``tags`` is one of ``keys`` (None: all)."""
    if keys is None:
        return [[]]
    pattern = quoted(alternation(keys))
    return [[*(f'{before}=""' for before in tags[:index]), f"{tag}=~{pattern}"] for index, tag in enumerate(tags)]


class PromQLSource(RemoteSource):
    default_series = {CPU: "cpu_usage_active", MEM: "mem_available", GUEST_CPU: "vm_cpu_usage_active"}
    # Whether ``[d]`` includes a sample exactly d before the evaluation time (Prometheus: yes).
    range_closed_at_start = True
    extra_params: Mapping[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self.session = requests.Session()
        config = self.config
        if config.token:
            self.session.headers["Authorization"] = f"Bearer {config.token}"
        elif config.username:
            self.session.auth = (config.username, config.password)
        self.session.verify = config.verify_tls

    # --- the questions ---------------------------------------------------------------

    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        self.ignored = {}
        tags = self.config.host_tags
        parts = {metric: [selector(series)] for metric, series in ((CPU, self.config.host_cpu),
                                                                    (MEM, self.config.host_mem))}
        means = self._window_means(parts, tags, since, until, self.host_lookup())
        by_host: dict[int, dict[str, float]] = {}
        for (pk, metric), mean in means.items():
            by_host.setdefault(pk, {})[metric] = mean
        return by_host

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
        keys = None if guest_ids is None else list(lookup)
        selectors = [selector(self.config.guest_cpu, matchers) for matchers in key_matchers(tags, keys)]
        means = self._window_means({GUEST_CPU: selectors}, tags, since, until, lookup)
        return {pk: mean for (pk, _), mean in means.items()}

    def host_cpu_history(
        self, since: datetime, until: datetime, bucket_seconds: int,
        seasonal: Sequence[tuple[datetime, datetime]] = (),
    ) -> CpuHistory:
        """One instant query at ``until``: each bucket is a range shifted by ``offset``, each seasonal
        range too, told apart by an ``am_q`` label (a range query would lose VictoriaMetrics' last point).

        The means are sum/count over every series of a host tag set; out-of-range samples are not
        filtered here (a forecast is an estimate, clipped to 0-100 %, never a trigger on its own).
        """
        tags = self.config.host_tags
        by = ", ".join(tags)
        sel = selector(self.config.host_cpu)
        bucket_ms = int(bucket_seconds) * 1000
        count = max(1, round((until - since).total_seconds() / bucket_seconds))
        end_ms = until.timestamp() * 1000

        def part(label: str, length_ms: int, offset_ms: int) -> str:
            shift = f" offset {offset_ms}ms" if offset_ms > 0 else ""
            window = f"[{self._range(length_ms)}]{shift}"
            mean = f"sum by ({by}) (sum_over_time({sel}{window})) / sum by ({by}) (count_over_time({sel}{window}))"
            return f'label_replace({mean}, "am_q", "{label}", "", "")'

        parts = [part(f"b{k}", bucket_ms, k * bucket_ms) for k in range(count)]
        for index, (start, end) in enumerate(seasonal):
            parts.append(part(f"s{index}", round((end - start).total_seconds() * 1000),
                              round(end_ms - end.timestamp() * 1000)))
        answer = self._ask("query", {"query": " or ".join(parts), "time": f"{until.timestamp():.3f}"})
        lookup = self.host_lookup()
        buckets: dict[int, dict[int, float]] = {}
        seasons: list[dict[int, float]] = [{} for _ in seasonal]
        for item in answer:
            labels = item.get("metric", {})
            pk = self.pk_of(labels, tags, lookup)
            value = float(item["value"][1])
            label = labels.get("am_q", "")
            if pk is None or not math.isfinite(value) or not label[1:].isdigit():
                continue
            if label[0] == "b":
                buckets.setdefault(pk, {})[int(label[1:])] = min(max(value, 0.0), 100.0)
            elif label[0] == "s" and int(label[1:]) < len(seasons):
                seasons[int(label[1:])][pk] = min(max(value, 0.0), 100.0)
        return CpuHistory(until=until, bucket_seconds=bucket_seconds, buckets=buckets, seasonal=tuple(seasons))

    def host_series(
        self, host_id: int, metric: str, start: datetime, end: datetime, bucket_seconds: int
    ) -> list[tuple[datetime, float]]:
        keys = self.host_keys(host_id)
        if not keys:
            return []
        series = self.config.host_cpu if metric == CPU else self.config.host_mem
        selectors = [selector(series, matchers) for matchers in key_matchers(self.config.host_tags, keys)]
        bucket = int(bucket_seconds)
        first = math.floor(start.timestamp() / bucket) * bucket
        last = math.floor(end.timestamp() / bucket) * bucket
        # Evaluated 1 ms before each bucket's end with the range open at its start: [k·b, (k+1)·b).
        window, shift = f"{self._range(bucket * 1000)}]", bucket - 0.001

        def over(function: str) -> str:
            return "sum(" + " or ".join(f"{function}({sel}[{window})" for sel in selectors) + ")"

        data = self._ask("query_range", {
            "query": f"{over('sum_over_time')} / {over('count_over_time')}",
            "start": f"{first + shift:.3f}", "end": f"{last + shift:.3f}", "step": str(bucket),
        })
        points = []
        for item in data:
            for stamp, value in item.get("values", []):
                number = float(value)
                if math.isfinite(number):
                    bucket_start = round(float(stamp) - shift)
                    points.append((datetime.fromtimestamp(bucket_start, tz=UTC), number))
        points.sort()
        return points

    # --- PromQL ------------------------------------------------------------------------

    def _range(self, milliseconds: int) -> str:
        return f"{milliseconds - 1 if self.range_closed_at_start else milliseconds}ms"

    def _window_means(
        self, parts: Mapping[str, list[str]], tags: Sequence[str], since: datetime, until: datetime,
        lookup: Mapping[str, int],
    ) -> dict[tuple[int, str], float]:
        window_ms = round((until - since).total_seconds() * 1000)
        window = self._range(window_ms)
        by = ", ".join(tags)
        expressions = []
        for metric, selectors in parts.items():
            for stat in STATS:
                inner = " or ".join(f"{stat}_over_time({sel}[{window}])" for sel in selectors)
                aggregate = "sum" if stat in ("sum", "count") else stat
                expressions.append(
                    f'label_replace({aggregate} by ({by}) ({inner}), "am_q", "{metric}|{stat}", "", "")'
                )
        answer = self._ask("query", {"query": " or ".join(expressions), "time": f"{until.timestamp():.3f}"})
        stats: dict[tuple[str, tuple], dict[str, float]] = {}
        for item in answer:
            labels = item.get("metric", {})
            metric, _, stat = labels.get("am_q", "").partition("|")
            group = tuple(labels.get(tag, "") for tag in tags)
            stats.setdefault((metric, group), {})[stat] = float(item["value"][1])
        totals = Totals()
        flagged: dict[str, list[tuple]] = {}
        for (metric, group), values in stats.items():
            pk = self.pk_of(dict(zip(tags, group, strict=True)), tags, lookup)
            if pk is None:
                continue
            low, high = valid_range(metric)
            if values.get("min", low) < low or values.get("max", high) > high or not all(
                math.isfinite(value) for value in values.values()
            ):
                flagged.setdefault(metric, []).append(group)
            else:
                totals.add(pk, metric, values.get("sum", 0.0), values.get("count", 0.0))
        for metric, groups in flagged.items():
            self._valid_samples_of(metric, parts[metric], tags, groups, window, until, lookup, totals)
        return totals.means()

    def _valid_samples_of(
        self, metric: str, selectors: list[str], tags: Sequence[str], groups: list[tuple], window: str,
        until: datetime, lookup: Mapping[str, int], totals: Totals,
    ) -> None:
        """The raw samples of series with out-of-range values: the valid ones summed, the others counted."""
        wanted = set(groups)
        low, high = valid_range(metric)
        # One range selector per request (PromQL cannot join range vectors); normally there is one.
        for sel in selectors:
            values = {tag: {group[i] for group in groups} for i, tag in enumerate(tags)}
            narrowed = sel[:-1] + "".join(
                f", {tag}=~{quoted(alternation(v))}" for tag, v in values.items() if v != {""}
            ) + "}"
            answer = self._ask("query", {"query": f"{narrowed}[{window}]", "time": f"{until.timestamp():.3f}"})
            for item in answer:
                labels = item.get("metric", {})
                group = tuple(labels.get(tag, "") for tag in tags)
                pk = self.pk_of(labels, tags, lookup)
                if group not in wanted or pk is None:
                    continue
                good = [float(v) for _, v in item.get("values", []) if low <= float(v) <= high]
                self.count_ignored(metric, len(item.get("values", [])) - len(good))
                totals.add(pk, metric, sum(good), len(good))

    def _ask(self, endpoint: str, params: dict[str, str]) -> list:
        """POST /api/v1/<endpoint>; the result list, or SourceError in one line."""
        try:
            response = self.bounded_request(
                self.session.post, f"{self.config.url}/api/v1/{endpoint}", data={**params, **self.extra_params},
                timeout=(self.config.timeout, self.config.timeout),
            )
        except requests.exceptions.Timeout:
            raise self.timed_out() from None
        except requests.exceptions.ConnectionError as exc:
            raise self.unreachable(exc) from None
        except requests.exceptions.RequestException as exc:
            raise self.fail(f"could not be asked: {one_line(str(exc))}") from None
        if response.status_code in (401, 403):
            raise self.refused(response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise self.fail(f"answered HTTP {response.status_code} with something that is not a PromQL result:"
                            f" {one_line(response.text, 120)!r}")
        if body["status"] != "success":
            raise self.fail(f"refused the query (HTTP {response.status_code}): {one_line(str(body.get('error')))}")
        result = (body.get("data") or {}).get("result")
        if not isinstance(result, list):
            raise self.fail("answered a PromQL result without data.result")
        return result
