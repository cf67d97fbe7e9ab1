"""Timeouts of outside calls (driver, metric source, platform), noted for the overview's banner."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from automigrate.models import OutsideTimeout

log = logging.getLogger(__name__)


def note_timeout(kind: str, call: str, message: str, now: datetime | None = None) -> None:
    """Record that ``call`` timed out now; never raises (a failing note must not hide the timeout)."""
    now = now or timezone.now()
    log.warning("%s %s: %s", kind, call, message)
    call, message = call[:200], message[:500]
    try:
        with transaction.atomic():
            updated = OutsideTimeout.objects.filter(call=call).update(
                kind=kind, message=message, last_at=now, count=F("count") + 1
            )
            if not updated:
                try:
                    with transaction.atomic():
                        OutsideTimeout.objects.create(kind=kind, call=call, message=message, first_at=now, last_at=now)
                except IntegrityError:  # another worker created it just now
                    OutsideTimeout.objects.filter(call=call).update(last_at=now, count=F("count") + 1)
    except DatabaseError:
        log.exception("could not note the timeout of %s %s", kind, call)


def recent_timeouts(now: datetime | None = None) -> list[OutsideTimeout]:
    """Calls that timed out within the last AUTOMIGRATE_TIMEOUT_BANNER_MINUTES, newest first."""
    now = now or timezone.now()
    since = now - timedelta(minutes=float(settings.AUTOMIGRATE["TIMEOUT_BANNER_MINUTES"]))
    return list(OutsideTimeout.objects.filter(last_at__gte=since).order_by("-last_at")[:10])
