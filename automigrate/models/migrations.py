"""Migration attempts, the batches they belong to, and the one global lock."""

from django.db import models
from django.utils import timezone


class MigrationBatch(models.Model):
    """One rule's set of migrations from one evaluation; holds the global lock."""

    class State(models.TextChoices):
        RUNNING = "running"
        FINISHED = "finished"
        ABORTED = "aborted"
        EXPIRED = "expired"

    rule = models.ForeignKey(
        "automigrate.MigrationRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="batches"
    )
    rule_name = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    hosts = models.JSONField(default=list, blank=True, help_text="firing hosts this batch relieves")

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "migration batches"

    def __str__(self) -> str:
        return f"batch #{self.pk} of rule {self.rule_name}"


class Migration(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        MIGRATING = "migrating"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        TIMED_OUT = "timed_out"
        CANCELLED = "cancelled"

    ACTIVE_STATES = (State.PENDING, State.MIGRATING)

    # PROTECT: deleting a host or guest must never erase its migration history.
    guest = models.ForeignKey("automigrate.Guest", on_delete=models.PROTECT, related_name="migrations")
    source = models.ForeignKey("automigrate.Host", on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey("automigrate.Host", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(
        "automigrate.MigrationRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="migrations"
    )
    batch = models.ForeignKey(
        MigrationBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="migrations"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    score = models.FloatField(default=0, help_text="the guest's score on the source, in the rule metric's unit")
    target_score = models.FloatField(default=0, help_text="the target's projected value after the move")
    requested_at = models.DateTimeField(default=timezone.now)
    # The intent, recorded (claimed pending → migrating, database clock) before the driver is asked.
    started_at = models.DateTimeField(null=True, blank=True)
    # When the driver accepted the start. Still empty after started_at: the start is in progress, or
    # the process asking died before recording the answer (the watcher then asks the driver, by the
    # migration's id, instead of starting it again).
    start_confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    driver_ref = models.CharField(max_length=200, blank=True, help_text="the driver's id of this migration")
    progress = models.FloatField(
        null=True, blank=True, help_text="fraction done (0–1) as the driver last reported it; empty: not reported"
    )
    error = models.TextField(blank=True)
    # The reference's event notes for this move ({"guest": {...}, "target_host": {...}}) and the
    # engine's reason, fixed when planned so later events repeat the numbers the decision used.
    notes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        # The list's order: newest first, a range of this index however long the history.
        indexes = [models.Index(fields=["requested_at", "id"], name="migration_requested_id")]
        constraints = [
            # The lock keeps batches apart; this keeps a guest from being moved twice at once
            # even if two writers slip past it.
            models.UniqueConstraint(
                fields=["guest"], condition=models.Q(state__in=["pending", "migrating"]),
                name="one_active_migration_per_guest",
                violation_error_message="this guest already has a migration pending or in progress",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guest} {self.source} -> {self.target} ({self.state})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class MigrationLock(models.Model):
    """A single row (pk=1): which batch may migrate now, and until when.

    Taken with one conditional UPDATE (free or lease expired), whose row count
    says who won: atomic on PostgreSQL and SQLite alike, across processes and
    machines. The lease bounds how long a dead holder can keep it.
    """

    SINGLETON_ID = 1

    batch = models.ForeignKey(MigrationBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    holder = models.CharField(max_length=200, blank=True, help_text="rule name of the holding batch")
    acquired_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"held by {self.holder} until {self.lease_expires_at}" if self.batch_id else "free"
