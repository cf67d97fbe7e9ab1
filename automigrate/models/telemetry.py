"""automigrate's own counters, kept in the database so every process (web, workers on any machine) adds
to the same numbers and /metrics on any web process reports them all."""

from django.db import models


class MetricCounter(models.Model):
    name = models.CharField(max_length=100)
    labels = models.CharField(max_length=200, blank=True, help_text="k=v pairs, sorted, comma-separated")
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="metric_counter_unique")]

    def __str__(self) -> str:
        return f"{self.name}{{{self.labels}}} {self.value:g}"
