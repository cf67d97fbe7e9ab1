"""Migration rules: when a host's metric mean crosses a threshold, move VMs off it."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from automigrate.engine.model import CPU, MEM
from automigrate.models.bounds import (
    MAX_CPU_THRESHOLD_PERCENT,
    MAX_MEM_THRESHOLD_BYTES,
    threshold_problem,
    validate_period_seconds,
)
from automigrate.models.placement import validate_windows
from automigrate.units import MAX_PERIOD_SECONDS, MIN_PERIOD_SECONDS, format_period, format_size


class MigrationRule(models.Model):
    class Metric(models.TextChoices):
        CPU_USAGE_ACTIVE = CPU, "cpu.usage_active > threshold (%)"
        MEM_AVAILABLE = MEM, "mem.available < threshold (bytes)"

    class Mode(models.TextChoices):
        AUTOMATIC = "automatic", "automatic (migrate)"
        RECOMMEND = "recommend", "recommend (dry run, approve by hand)"

    name = models.CharField(max_length=200, unique=True)
    metric = models.CharField(max_length=32, choices=Metric.choices, default=CPU)
    threshold = models.FloatField(help_text="CPU: percent, 0 < t <= 100. Memory: bytes (8G, 512M accepted)")
    period_seconds = models.PositiveIntegerField(
        default=300, help_text="check interval and averaging window, at least 10 s",
        validators=[validate_period_seconds],
    )
    source_hosts = models.ManyToManyField(
        "automigrate.Host", blank=True, related_name="rules_watching",
        help_text="only these hosts are watched (empty: every host)",
    )
    target_hosts = models.ManyToManyField(
        "automigrate.Host", blank=True, related_name="rules_targeting",
        help_text="VMs may only go to these hosts (empty: any other host)",
    )
    source_guests = models.ManyToManyField(
        "automigrate.Guest", blank=True, related_name="rules",
        help_text="only these VMs may be moved (empty: any VM)",
    )
    enabled = models.BooleanField(default=True)
    # Empty: any time (global blackouts aside).
    allowed_windows = models.CharField(
        max_length=500, blank=True, validators=[validate_windows],
        help_text="when this rule may migrate, in the cluster time zone, e.g. 'Mon-Fri 22:00-06:00' (empty: any time)",
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.AUTOMATIC)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Run-time state, written by the evaluator with update() (never an "update" event).
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_result = models.CharField(max_length=40, blank=True, editable=False)
    last_batch_finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(metric=CPU, threshold__gt=0, threshold__lte=MAX_CPU_THRESHOLD_PERCENT)
                    | models.Q(metric=MEM, threshold__gt=0, threshold__lte=MAX_MEM_THRESHOLD_BYTES)
                ),
                name="rule_threshold_in_range",
                violation_error_message="threshold out of range: CPU 0 < t <= 100 %, memory 0 < t <= 1P bytes",
            ),
            models.CheckConstraint(
                condition=models.Q(period_seconds__gte=MIN_PERIOD_SECONDS, period_seconds__lte=MAX_PERIOD_SECONDS),
                name="rule_period_in_range",
                violation_error_message=f"period out of range: {MIN_PERIOD_SECONDS}s to {MAX_PERIOD_SECONDS}s",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The threshold's range depends on the metric, so it is checked here (field-named)."""
        super().clean()
        if self.threshold is not None and self.metric in (CPU, MEM):
            problem = threshold_problem(self.metric, self.threshold)
            if problem:
                raise ValidationError({"threshold": problem})

    @property
    def operator(self) -> str:
        return "gt" if self.metric == CPU else "lt"

    @property
    def metric_type(self) -> str:
        """The CLI spelling of metric and operator, e.g. cpu.usage_active.gt."""
        return f"{self.metric}.{self.operator}"

    @property
    def period_display(self) -> str:
        return format_period(self.period_seconds)

    @property
    def threshold_display(self) -> str:
        if self.metric == MEM:
            return format_size(self.threshold)
        return f"{self.threshold:g}%"

    def describe(self) -> str:
        sign = ">" if self.operator == "gt" else "<"
        return f"{self.metric} {sign} {self.threshold_display} over {self.period_display}"
