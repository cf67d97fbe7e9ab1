"""Metric samples: one row per host (or guest), metric and time.

Indexed so that "mean per host over the last N seconds" is one GROUP BY over
an index range scan on (metric, time), and a host's chart is a range scan on
(host, metric, time).
"""

from __future__ import annotations

from django.db import models

from automigrate.engine.model import CPU, MEM


class HostSampleQuerySet(models.QuerySet):
    def in_range(self) -> HostSampleQuerySet:
        """Only values the metric can have: CPU 0..100 %, memory 0..the host's mem_total.

        Ingest refuses anything else, but rows stored before it did (or written
        by other means) must never reach a mean: one 1e160 overflows PostgreSQL's
        AVG (which also sums the squares) and takes every rule's evaluation with it.
        NaN fails both comparisons on PostgreSQL (it sorts above every number).
        """
        return self.filter(
            models.Q(metric=CPU, value__gte=0, value__lte=100)
            | models.Q(metric=MEM, value__gte=0, value__lte=models.F("host__mem_total"))
        )


class GuestSampleQuerySet(models.QuerySet):
    def in_range(self) -> GuestSampleQuerySet:
        """Only CPU percents 0..100 (see HostSampleQuerySet.in_range)."""
        return self.filter(cpu__gte=0, cpu__lte=100)


class HostSample(models.Model):
    class Metric(models.TextChoices):
        CPU_USAGE_ACTIVE = CPU, "cpu.usage_active (%)"
        MEM_AVAILABLE = MEM, "mem.available (bytes)"

    host = models.ForeignKey("automigrate.Host", on_delete=models.CASCADE, related_name="samples")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    time = models.DateTimeField()
    value = models.FloatField()

    objects = HostSampleQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["metric", "time"], name="hostsample_metric_time"),
            models.Index(fields=["host", "metric", "time"], name="hostsample_host_metric_time"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.metric}={self.value} @ {self.time:%Y-%m-%d %H:%M:%S}"


class GuestSample(models.Model):
    """A guest's cpu.usage_active, in % of its own vCPUs (telegraf's vm_cpu)."""

    guest = models.ForeignKey("automigrate.Guest", on_delete=models.CASCADE, related_name="samples")
    time = models.DateTimeField()
    cpu = models.FloatField()

    objects = GuestSampleQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["time"], name="guestsample_time"),
            models.Index(fields=["guest", "time"], name="guestsample_guest_time"),
        ]

    def __str__(self) -> str:
        return f"{self.guest_id} cpu={self.cpu} @ {self.time:%Y-%m-%d %H:%M:%S}"


class SourceCounters(models.Model):
    """A metric source's last cumulative counters for one host, to turn the next reading into rates.

    libvirt reports CPU time as ever-growing nanoseconds; a rate needs the previous reading,
    and the beat run that takes the next one may be another process.
    """

    key = models.CharField(max_length=200, unique=True, help_text="source:host id, e.g. libvirt:<host UUID>")
    taken_at = models.FloatField(help_text="Unix time of the reading")
    values = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.key} @ {self.taken_at:.0f}"
