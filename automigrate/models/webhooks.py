"""Notifications: webhooks that receive chosen events, and the log of every delivery attempt."""

from django.db import models
from django.utils import timezone

# Events worth waking someone for; a webhook with no actions listed receives these.
DEFAULT_ACTIONS = ("migrate_fail", "migrate_error", "find_result_fail")


class Webhook(models.Model):
    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, help_text="receives a JSON POST per event")
    actions = models.JSONField(
        default=list, blank=True,
        help_text="event actions to send, e.g. [\"migrate_fail\", \"find_result_fail\"], and the conditions"
                  " lock_overdue (lock held past its lease) and source_down (no samples); empty: "
                  + ", ".join(DEFAULT_ACTIONS),
    )
    secret = models.CharField(
        max_length=200, blank=True,
        help_text="if set, each body is signed: X-Automigrate-Signature: sha256=HMAC-SHA256(secret, body)",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, action: str) -> bool:
        return action in (self.actions or DEFAULT_ACTIONS)


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"  # waiting for its (next) attempt
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after the last attempt

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("automigrate.Event", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", db_constraint=False)
    action = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.IntegerField(null=True, blank=True, help_text="HTTP status of the last attempt")
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.action} to {self.webhook} ({self.state})"
