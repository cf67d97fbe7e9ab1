"""The event log: every decision and every migration attempt, with the reason.

Append-only: an event is never changed or deleted through the ORM, and it
outlives the rule, host or guest it names (their ids and names are copied).
"""

from django.db import models
from django.utils import timezone

SYSTEM_USER = "system"


class EventQuerySet(models.QuerySet):
    def delete(self):
        raise PermissionError("events are append-only")

    def update(self, **kwargs):
        raise PermissionError("events are append-only")


class Event(models.Model):
    class Action(models.TextChoices):
        # The reference's actions.
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        FIND_RESULT_FAIL = "find_result_fail"
        MIGRATING = "migrating"
        MIGRATE_SUCCESS = "migrate_success"
        MIGRATE_FAIL = "migrate_fail"
        MIGRATE_ERROR = "migrate_error"
        # Ours.
        RECOMMEND = "recommend"
        APPROVE = "approve"
        SKIP = "skip"
        ENABLE = "enable"
        DISABLE = "disable"
        NOT_TRIGGERED = "not_triggered"
        # The platform's inventory changed: a host offline or back, guests gone or new.
        INVENTORY = "inventory"

    # Indexed with id below (the log's order and its keyset cursors); a second index on time alone would be redundant.
    time = models.DateTimeField(default=timezone.now)
    # Like the host and guest columns below: a deleted rule leaves its events as they are.
    rule = models.ForeignKey(
        "automigrate.MigrationRule", on_delete=models.DO_NOTHING, null=True, blank=True,
        related_name="events", db_constraint=False,
    )
    # Kept when the rule is deleted.
    rule_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    rule_name = models.CharField(max_length=200, blank=True, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    user = models.CharField(max_length=150, default=SYSTEM_USER)
    # DO_NOTHING without a database constraint: deleting a host or guest leaves its events
    # untouched, the id in these columns and the name beside it, as they were at the time.
    # Show the *_name columns: the object an id points to may be gone (or renamed).
    guest = models.ForeignKey(
        "automigrate.Guest", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="events",
        db_constraint=False,
    )
    guest_name = models.CharField(max_length=200, blank=True, db_index=True)
    source_host = models.ForeignKey(
        "automigrate.Host", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
        db_constraint=False,
    )
    source_host_name = models.CharField(max_length=200, blank=True, db_index=True)
    target_host = models.ForeignKey(
        "automigrate.Host", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
        db_constraint=False,
    )
    target_host_name = models.CharField(max_length=200, blank=True, db_index=True)
    migration = models.ForeignKey(
        "automigrate.Migration", on_delete=models.SET_NULL, null=True, blank=True, related_name="events",
        db_constraint=False,
    )
    notes = models.JSONField(default=dict, blank=True)
    summary = models.TextField()

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [
            models.Index(fields=["rule_ref", "-time"], name="event_rule_time"),
            models.Index(fields=["time", "id"], name="event_time_id"),
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.rule_name} {self.action}: {self.summary}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("events are append-only")
