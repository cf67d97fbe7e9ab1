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
    hooks = [hook for hook in Webhook.objects.filter(enabled=True) if hook.wants(event.action)]
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, action=event.action, payload=payload(event))
        for hook in hooks
    ]
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    if event.action in _setting("EMAIL_ACTIONS") and _setting("EMAIL_STAFF"):
        transaction.on_commit(lambda: email_staff(event))
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
