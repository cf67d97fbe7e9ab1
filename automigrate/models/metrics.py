"""Metric samples: one row per host (or guest), metric and time, and their 1-/5-minute roll-ups.

The key is the primary key, (host, metric, time) or (guest, time): no surrogate
id, and at most one sample per key (a second write of a key replaces the value,
services.storage). A host's chart and a guest's window mean are range scans of
that key; "mean per host over the last N seconds" reads the time index, a BRIN
index on PostgreSQL (a few pages: rows arrive in time order) over the
partitions the window touches.

On PostgreSQL every table here is range-partitioned by ``time`` (migration
0012, automigrate.services.partitions): pruning drops whole partitions, no
DELETE and no VACUUM. On SQLite they are plain tables pruned by DELETE.

The hosts and guests are foreign keys without a database constraint: Django
still deletes a host's samples with the host, and the per-row check would cost
every bulk write of a round (100,000 rows at 5,000 hosts) one index probe per row.
"""

from __future__ import annotations

from django.db import models

from automigrate.engine.model import CPU, MEM


class PartitionedQuerySet(models.QuerySet):
    """Every ORM write makes sure its rows have a partition on PostgreSQL (services.partitions)."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        if objs:
            from automigrate.services import partitions

            times = [obj.time for obj in objs]
            partitions.ensure(self.model, min(times), max(times))
        return super().bulk_create(objs, *args, **kwargs)


class PartitionedModel(models.Model):
    """A row of a time-partitioned table: ``save`` makes sure its partition exists first."""

    objects = PartitionedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        from automigrate.services import partitions

        partitions.ensure(type(self), self.time, self.time)
        super().save(*args, **kwargs)


class HostSampleQuerySet(PartitionedQuerySet):
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


class GuestSampleQuerySet(PartitionedQuerySet):
    def in_range(self) -> GuestSampleQuerySet:
        """Only CPU percents 0..100 (see HostSampleQuerySet.in_range)."""
        return self.filter(cpu__gte=0, cpu__lte=100)


class HostSample(PartitionedModel):
    class Metric(models.TextChoices):
        CPU_USAGE_ACTIVE = CPU, "cpu.usage_active (%)"
        MEM_AVAILABLE = MEM, "mem.available (bytes)"

    pk = models.CompositePrimaryKey("host", "metric", "time")
    host = models.ForeignKey(
        "automigrate.Host", on_delete=models.CASCADE, related_name="samples", db_constraint=False, db_index=False
    )
    metric = models.CharField(max_length=32, choices=Metric.choices)
    time = models.DateTimeField()
    value = models.FloatField()

    objects = HostSampleQuerySet.as_manager()

    class Meta:
        # BRIN on PostgreSQL (migration 0012), a B-tree on SQLite.
        indexes = [models.Index(fields=["time"], name="hostsample_time")]

    def __str__(self) -> str:
        return f"{self.host_id} {self.metric}={self.value} @ {self.time:%Y-%m-%d %H:%M:%S}"


class GuestSample(PartitionedModel):
    """A guest's cpu.usage_active, in % of its own vCPUs (telegraf's vm_cpu)."""

    pk = models.CompositePrimaryKey("guest", "time")
    guest = models.ForeignKey(
        "automigrate.Guest", on_delete=models.CASCADE, related_name="samples", db_constraint=False, db_index=False
    )
    time = models.DateTimeField()
    cpu = models.FloatField()

    objects = GuestSampleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["time"], name="guestsample_time")]

    def __str__(self) -> str:
        return f"{self.guest_id} cpu={self.cpu} @ {self.time:%Y-%m-%d %H:%M:%S}"


class HostRollup(PartitionedModel):
    """Mean, max and count of a host metric's in-range samples in [time, time + step)."""

    pk = models.CompositePrimaryKey("host", "metric", "time")
    host = models.ForeignKey("automigrate.Host", on_delete=models.CASCADE, related_name="+", db_constraint=False,
                             db_index=False)
    metric = models.CharField(max_length=32, choices=HostSample.Metric.choices)
    time = models.DateTimeField(help_text="start of the step")
    mean = models.FloatField()
    max = models.FloatField()
    samples = models.PositiveIntegerField(help_text="raw samples averaged (weights the mean of several steps)")

    step_seconds = 0

    class Meta(PartitionedModel.Meta):
        abstract = True

    def __str__(self) -> str:
        return f"{self.host_id} {self.metric} mean={self.mean} max={self.max} @ {self.time:%Y-%m-%d %H:%M}"


class GuestRollup(PartitionedModel):
    """Mean, max and count of a guest's in-range CPU samples in [time, time + step)."""

    pk = models.CompositePrimaryKey("guest", "time")
    guest = models.ForeignKey("automigrate.Guest", on_delete=models.CASCADE, related_name="+", db_constraint=False,
                             db_index=False)
    time = models.DateTimeField(help_text="start of the step")
    mean = models.FloatField()
    max = models.FloatField()
    samples = models.PositiveIntegerField()

    step_seconds = 0

    class Meta(PartitionedModel.Meta):
        abstract = True

    def __str__(self) -> str:
        return f"{self.guest_id} cpu mean={self.mean} max={self.max} @ {self.time:%Y-%m-%d %H:%M}"


class HostRollup1m(HostRollup):
    step_seconds = 60

    class Meta:
        indexes = [models.Index(fields=["time"], name="hostrollup1m_time")]


class HostRollup5m(HostRollup):
    step_seconds = 300

    class Meta:
        indexes = [models.Index(fields=["time"], name="hostrollup5m_time")]


class GuestRollup1m(GuestRollup):
    step_seconds = 60

    class Meta:
        indexes = [models.Index(fields=["time"], name="guestrollup1m_time")]


class GuestRollup5m(GuestRollup):
    step_seconds = 300

    class Meta:
        indexes = [models.Index(fields=["time"], name="guestrollup5m_time")]


class RollupProgress(models.Model):
    """How far a roll-up table is complete: every step before ``done_until`` is written."""

    table = models.CharField(max_length=63, unique=True)
    done_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.table} until {self.done_until:%Y-%m-%d %H:%M}"


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
