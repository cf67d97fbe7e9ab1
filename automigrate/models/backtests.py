"""Backtest runs: a rule replayed over the cluster's own history, run by a Celery task.

A row, not Celery's result backend (none is configured): the web process reads the
progress the worker writes, and a finished run stays on the rule page after a restart.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class BacktestRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    rule = models.ForeignKey("automigrate.MigrationRule", on_delete=models.CASCADE, related_name="backtests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    since_seconds = models.PositiveIntegerField()
    progress = models.FloatField(default=0, help_text="fraction done, 0-1, as the worker last wrote it")
    message = models.CharField(max_length=500, blank=True, help_text="the stage now, or why it failed")
    # services.backtest.Backtest.to_dict(): the table, the per-step series and the notes.
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["rule", "requested_at"], name="backtest_rule_requested")]

    def __str__(self) -> str:
        return f"backtest #{self.pk} of {self.rule_id} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE_STATES
