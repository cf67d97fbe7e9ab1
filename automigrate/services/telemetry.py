"""automigrate's own metrics for Prometheus, served at /metrics (automigrate.metrics_view).

Two kinds of numbers, both true across processes and machines:

* from the record itself, read at scrape time: migrations by outcome and their
  duration histogram (the Migration table keeps every attempt forever), the
  migrations in flight, whether the lock is held and whether its lease ran out;
* counted as they happen, in MetricCounter rows (one UPDATE each): evaluations by
  result and their duration histogram, samples ingested and refused, metric
  source errors. In-process counters would only see the process that serves
  /metrics, while evaluations run in Celery workers.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, FloatField, Q, Sum, When
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from automigrate.models import MetricCounter, Migration, MigrationLock

EVALUATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MIGRATION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
FINISHED = (Migration.State.SUCCEEDED, Migration.State.FAILED, Migration.State.TIMED_OUT, Migration.State.CANCELLED)


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def increment(name: str, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to a counter (created at 0 the first time)."""
    bump([(name, labels, amount)])


def bump(items: list[tuple[str, dict[str, str], float]]) -> None:
    """Add to several counters in one UPDATE (rows that do not exist yet are created first)."""
    items = [(name, _labels(labels), amount) for name, labels, amount in items if amount]
    if not items:
        return
    keys = Q()
    for name, key, _ in items:
        keys |= Q(name=name, labels=key)
    added = Case(*(When(name=name, labels=key, then=F("value") + amount) for name, key, amount in items),
                 default=F("value"), output_field=FloatField())
    if MetricCounter.objects.filter(keys).update(value=added) == len(items):
        return
    # First use of some counter: create the missing rows at 0 (another process may race us), then add.
    # The UPDATE above already added to the rows that existed.
    existing = set(MetricCounter.objects.filter(keys).values_list("name", "labels"))
    for name, key, amount in items:
        if (name, key) in existing:
            continue
        try:
            with transaction.atomic():
                MetricCounter.objects.create(name=name, labels=key, value=amount)
        except IntegrityError:  # created by another process meanwhile
            MetricCounter.objects.filter(name=name, labels=key).update(value=F("value") + amount)


def _observation(name: str, seconds: float, buckets: tuple[float, ...], labels: dict[str, str]) -> list:
    le = next((bound for bound in buckets if seconds <= bound), None)
    return [(f"{name}_bucket", {**labels, "le": "+Inf" if le is None else repr(le)}, 1),
            (f"{name}_sum", labels, seconds)]


def observe(name: str, seconds: float, buckets: tuple[float, ...], **labels: str) -> None:
    """One histogram observation: its bucket's counter and the _sum."""
    bump(_observation(name, seconds, buckets, labels))


def evaluation(result: str, seconds: float) -> None:
    """One evaluation: its result counter and duration histogram, in one UPDATE once the rows exist."""
    bump([("evaluations", {"result": result}, 1),
          *_observation("evaluation_duration_seconds", seconds, EVALUATION_BUCKETS, {})])


def _parse(key: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in key.split(",") if item)


class AutomigrateCollector(Collector):
    """Reads the numbers at scrape time: a few aggregate queries, whatever the history's size."""

    def collect(self):
        yield from self._migrations()
        yield from self._lock()
        yield from self._counted()

    def _migrations(self):
        outcomes = CounterMetricFamily("automigrate_migrations", "finished migrations by outcome",
                                       labels=["outcome"])
        counts = dict(Migration.objects.filter(state__in=FINISHED).values_list("state").annotate(n=Count("id"))
                      .order_by())
        for state in FINISHED:
            outcomes.add_metric([state], counts.get(state, 0))
        yield outcomes
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        timed = Migration.objects.filter(state__in=FINISHED, started_at__isnull=False, finished_at__isnull=False)
        aggregates = {f"le{i}": Count("id", filter=Q(took__lte=timedelta(seconds=bound)))
                      for i, bound in enumerate(MIGRATION_BUCKETS)}
        row = timed.annotate(took=duration).aggregate(total=Count("id"), took_sum=Sum("took"), **aggregates)
        total_seconds = row["took_sum"].total_seconds() if row["took_sum"] else 0.0
        buckets = [(repr(bound), row[f"le{i}"]) for i, bound in enumerate(MIGRATION_BUCKETS)]
        buckets.append(("+Inf", row["total"]))
        yield HistogramMetricFamily("automigrate_migration_duration_seconds",
                                    "time from start to end of finished migrations", buckets=buckets,
                                    sum_value=total_seconds)
        in_flight = GaugeMetricFamily("automigrate_migrations_in_flight", "migrations pending or migrating")
        in_flight.add_metric([], Migration.objects.filter(state__in=Migration.ACTIVE_STATES).count())
        yield in_flight

    def _lock(self):
        row = MigrationLock.objects.filter(pk=MigrationLock.SINGLETON_ID).values(
            "batch_id", "lease_expires_at").first() or {}
        held = bool(row.get("batch_id"))
        expired = held and row.get("lease_expires_at") is not None and row["lease_expires_at"] < timezone.now()
        lock = GaugeMetricFamily("automigrate_lock_held", "1 while a batch holds the migration lock")
        lock.add_metric([], 1 if held else 0)
        yield lock
        overdue = GaugeMetricFamily("automigrate_lock_lease_expired",
                                    "1 while the lock is held past its lease (a stuck batch)")
        overdue.add_metric([], 1 if expired else 0)
        yield overdue

    def _counted(self):
        rows: dict[str, list[tuple[dict, float]]] = {}
        for name, key, value in MetricCounter.objects.values_list("name", "labels", "value"):
            rows.setdefault(name, []).append((_parse(key), value))
        evaluations = CounterMetricFamily("automigrate_evaluations", "rule evaluations by result",
                                          labels=["result"])
        for labels, value in rows.get("evaluations", []):
            evaluations.add_metric([labels.get("result", "")], value)
        yield evaluations
        yield self._histogram(rows, "evaluation_duration_seconds", EVALUATION_BUCKETS,
                              "time one rule evaluation took")
        for name, help_text, label in (
            ("samples_ingested", "samples stored by /write, by kind", "kind"),
            ("samples_refused", "samples or requests /write refused, by reason", "reason"),
            ("metric_source_errors", "errors reading the metric source, by source", "source"),
        ):
            family = CounterMetricFamily(f"automigrate_{name}", help_text, labels=[label])
            for labels, value in rows.get(name, []):
                family.add_metric([labels.get(label, "")], value)
            yield family

    @staticmethod
    def _histogram(rows, name: str, bounds: tuple[float, ...], help_text: str) -> HistogramMetricFamily:
        counts = {labels.get("le"): value for labels, value in rows.get(f"{name}_bucket", [])}
        running, buckets = 0.0, []
        for bound in bounds:
            running += counts.get(repr(bound), 0)
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", running + counts.get("+Inf", 0)))
        total = sum(value for _, value in rows.get(f"{name}_sum", []))
        return HistogramMetricFamily(f"automigrate_{name}", help_text, buckets=buckets, sum_value=total)


def registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AutomigrateCollector())
    return registry
