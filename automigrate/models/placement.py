"""Placement groups, migration windows and blackouts: where guests may run, and when anything may move."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from automigrate.engine import windows

GROUP_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "letters, digits, '.', '_' and '-' only, starting with a letter or digit (it is used in labels: group:NAME)",
)


def validate_windows(value: str) -> None:
    """Model/form validator: the window grammar of engine.windows, one clear line on error."""
    try:
        windows.parse(value)
    except windows.WindowError as exc:
        raise ValidationError(str(exc)) from exc


class PlacementGroup(models.Model):
    class Kind(models.TextChoices):
        ANTI_AFFINITY = "anti-affinity", "anti-affinity (never on one host)"
        AFFINITY = "affinity", "affinity (together on one host)"
        HOST_AFFINITY = "host-affinity", "host-affinity (only on these hosts)"
        HOST_ANTI_AFFINITY = "host-anti-affinity", "host-anti-affinity (never on these hosts)"

    class Strength(models.TextChoices):
        MUST = "must", "must (never broken)"
        SHOULD = "should", "should (broken only to relieve a firing host)"

    name = models.CharField(max_length=100, unique=True, validators=[GROUP_NAME])
    kind = models.CharField(max_length=32, choices=Kind.choices)
    strength = models.CharField(max_length=10, choices=Strength.choices, default=Strength.MUST)
    guests = models.ManyToManyField(
        "automigrate.Guest", blank=True, related_name="placement_groups",
        help_text="members; a guest labelled group:NAME is a member too",
    )
    hosts = models.ManyToManyField(
        "automigrate.Host", blank=True, related_name="placement_groups",
        help_text="host-affinity / host-anti-affinity only",
    )
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.strength})"


class BlackoutWindow(models.Model):
    """Times when nothing migrates, for every rule (backups, business hours)."""

    name = models.CharField(max_length=100, unique=True)
    windows = models.CharField(
        max_length=500, validators=[validate_windows],
        help_text="days and hours in the cluster time zone, e.g. 'Mon-Fri 08:00-18:00; Sun 01:00-03:00'",
    )
    enabled = models.BooleanField(default=True)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.windows}"
