"""Notifications: events that need a person go to webhooks (signed, retried) and to staff by e-mail.

Every new event passes through ``on_event`` (a post_save signal, see apps.py).
For each enabled webhook that wants its action a WebhookDelivery row is written
in the same transaction, and once it commits a Celery task POSTs it. A failed
attempt (network error, timeout, non-2xx) is retried with exponential back-off
(RETRY_BASE_SECONDS × 2^attempt) up to MAX_ATTEMPTS; every attempt's status and
error stay on the row, which admin shows as the delivery log.

The body is JSON; with a secret, ``X-Automigrate-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the exact body bytes, as GitHub's webhooks do, so receivers can
check it with one ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from automigrate.models import Event, Webhook, WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Automigrate-Signature"
TIMEOUT_SECONDS = 10  # one attempt never blocks a worker longer
MAX_ERROR = 500


def _setting(name: str):
    return settings.AUTOMIGRATE[name]


def payload(event: Event) -> dict:
    return {
        "id": event.pk,
        "time": event.time.isoformat(),
        "action": event.action,
        "rule": event.rule_ref,
        "rule_name": event.rule_name,
        "user": event.user,
        "guest": event.guest.name if event.guest_id and event.guest else None,
        "source_host": event.source_host.name if event.source_host_id and event.source_host else None,
        "target_host": event.target_host.name if event.target_host_id and event.target_host else None,
        "migration": event.migration_id,
        "summary": event.summary,
        "notes": event.notes,
    }


def on_event(event: Event) -> list[WebhookDelivery]:
    """Queue a delivery to every enabled webhook that wants ``event``'s action; e-mail staff if asked to."""
    return on_events([event])


def on_events(events: list[Event]) -> list[WebhookDelivery]:
    """``on_event`` for events written together (one INSERT), reading the webhooks once."""
    hooks = list(Webhook.objects.filter(enabled=True)) if events else []
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, action=event.action, payload=payload(event))
        for event in events
        for hook in hooks
        if hook.wants(event.action)
    ]
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    if _setting("EMAIL_STAFF"):
        for event in events:
            if event.action in _setting("EMAIL_ACTIONS"):
                transaction.on_commit(lambda event=event: email_staff(event))
    return deliveries


def _enqueue(ids: list[int]) -> None:
    from automigrate import tasks

    for delivery_id in ids:
        try:
            tasks.deliver_webhook.delay(delivery_id)
        except Exception:  # a broker down must not fail the evaluation that wrote the event
            log.warning("webhook delivery %s not queued: the Celery broker is unreachable", delivery_id, exc_info=True)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(delivery_id: int, now: datetime | None = None) -> float | None:
    """One attempt; returns the seconds until the next attempt, or None when done (delivered or given up)."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("webhook").filter(
        pk=delivery_id, state=WebhookDelivery.State.PENDING
    ).first()
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "automigrate-webhook",
               "X-Automigrate-Event": delivery.action, "X-Automigrate-Delivery": str(delivery.pk)}
    if delivery.webhook.secret:
        headers[SIGNATURE_HEADER] = sign(delivery.webhook.secret, body)
    status, error = _post(delivery.webhook.url, body, headers)
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = status, error[:MAX_ERROR]
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.State.DELIVERED, now, None
        delivery.save()
        return None
    if delivery.attempts >= int(_setting("WEBHOOK_MAX_ATTEMPTS")):
        delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
        delivery.save()
        log.warning("webhook %s gave up on delivery %s after %s attempts: %s",
                    delivery.webhook.name, delivery.pk, delivery.attempts, error or status)
        return None
    wait = float(_setting("WEBHOOK_RETRY_BASE_SECONDS")) * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    delivery.save()
    return wait


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


# Conditions that are not events: checked every minute by beat (tasks.check_notifications),
# sent once per occurrence to webhooks that list them.
LOCK_OVERDUE = "lock_overdue"
SOURCE_DOWN = "source_down"
CONDITIONS = (LOCK_OVERDUE, SOURCE_DOWN)


def check_conditions(now: datetime | None = None) -> list[WebhookDelivery]:
    """The lock held past its lease, and the metric source silent: one delivery per occurrence."""
    now = now or timezone.now()
    found = [condition for condition in (_lock_overdue(now), _source_down(now)) if condition is not None]
    deliveries = []
    for action, key, summary in found:
        for hook in Webhook.objects.filter(enabled=True):
            if action not in (hook.actions or ()):
                continue  # conditions are sent only to webhooks that ask for them
            if WebhookDelivery.objects.filter(webhook=hook, action=action, payload__key=key).exists():
                continue  # this occurrence was sent already
            body = {"action": action, "key": key, "time": now.isoformat(), "summary": summary}
            deliveries.append(WebhookDelivery.objects.create(webhook=hook, action=action, payload=body))
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _lock_overdue(now: datetime) -> tuple[str, str, str] | None:
    from automigrate.models import MigrationLock

    holder = MigrationLock.objects.filter(pk=MigrationLock.SINGLETON_ID).first()
    if holder is None or not holder.batch_id or holder.lease_expires_at is None or holder.lease_expires_at >= now:
        return None
    return (LOCK_OVERDUE, f"batch:{holder.batch_id}:{holder.lease_expires_at.isoformat()}",
            f"batch #{holder.batch_id} ({holder.holder}) holds the migration lock past its lease,"
            f" which ended at {holder.lease_expires_at.isoformat()}")


def _source_down(now: datetime) -> tuple[str, str, str] | None:
    from automigrate.models import Host
    from automigrate.services import metrics

    silent_for = 3 * float(_setting("SAMPLE_INTERVAL_SECONDS")) + 60
    if not Host.objects.filter(enabled=True).exists():
        return None
    try:
        means = metrics.host_means(int(silent_for), now)
    except Exception as exc:  # the source itself failing is the condition too
        from automigrate.services import telemetry

        telemetry.increment("metric_source_errors", source=str(_setting("METRIC_SOURCE")))
        return (SOURCE_DOWN, f"error:{now:%Y-%m-%dT%H}", f"the metric source fails: {type(exc).__name__}: {exc}")
    if means:
        return None
    # One alert per hour of silence at most: the key changes each hour it lasts.
    return (SOURCE_DOWN, f"silent:{now:%Y-%m-%dT%H}",
            f"no host sent a sample in the last {silent_for:.0f} s: is the metric source ({_setting('METRIC_SOURCE')})"
            " or telegraf down?")


def retry_due(now: datetime | None = None) -> int:
    """Re-queue pending deliveries whose retry time passed (a worker restart loses countdown tasks)."""
    now = now or timezone.now()
    due = list(WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
               .values_list("pk", flat=True)[:500])
    _enqueue(due)
    return len(due)


def email_staff(event: Event) -> int:
    """The event as a plain e-mail to every active staff user with an address (Django's mail settings)."""
    recipients = list(get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
                      .values_list("email", flat=True))
    if not recipients:
        return 0
    subject = f"[automigrate] {event.action}: {event.rule_name or 'system'}"
    text = f"{event.summary}\n\nTime: {event.time.isoformat()}\nRule: {event.rule_name}\nEvent #{event.pk}\n"
    try:
        return send_mail(subject[:200], text, None, recipients, fail_silently=False)
    except Exception:  # mail is best effort: the event is recorded either way
        log.warning("e-mail about event %s not sent", event.pk, exc_info=True)
        return 0
