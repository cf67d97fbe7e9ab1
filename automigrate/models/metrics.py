"""Metric samples: one row per host (or guest), metric and time.

Indexed so that "mean per host over the last N seconds" is one GROUP BY over
an index range scan on (metric, time), and a host's chart is a range scan on
(host, metric, time).
"""

from django.db import models

from automigrate.engine.model import CPU, MEM


class HostSample(models.Model):
    class Metric(models.TextChoices):
        CPU_USAGE_ACTIVE = CPU, "cpu.usage_active (%)"
        MEM_AVAILABLE = MEM, "mem.available (bytes)"

    host = models.ForeignKey("automigrate.Host", on_delete=models.CASCADE, related_name="samples")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    time = models.DateTimeField()
    value = models.FloatField()

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
