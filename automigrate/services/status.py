"""What each rule is doing now, and who holds the migration lock: for the dashboard and the API.

Bounded queries: one for the lock (with its batch), whatever the number of
rules; the rules' own fields carry the rest (last_result, last_batch_finished_at).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from automigrate.engine import lifecycle
from automigrate.models import Migration, MigrationRule
from automigrate.services import evaluate, lock

IDLE = "idle"
FIRING = "firing"
MIGRATING = "migrating"
WAITING_FOR_LOCK = "waiting_for_lock"
SETTLING = "settling"
DISABLED = "disabled"
STATES = (IDLE, FIRING, MIGRATING, WAITING_FOR_LOCK, SETTLING, DISABLED)


def rule_states(rules: Iterable[MigrationRule], now: datetime | None = None) -> dict[int, str]:
    """rule pk -> one of STATES, from the rules' run-time fields and one read of the lock."""
    now = now or timezone.now()
    holder = lock.current()
    holder_rule = holder.batch.rule_id if holder.batch_id and holder.batch else None
    return states_given_lock(rules, holder_rule, bool(holder.batch_id), now)


def states_given_lock(
    rules: Iterable[MigrationRule], holder_rule: int | None, lock_held: bool, now: datetime
) -> dict[int, str]:
    """rule pk -> state, for a caller that has already read the lock (lock_status)."""
    return {rule.pk: rule_state(rule, holder_rule, lock_held, now) for rule in rules}


def rule_state(rule: MigrationRule, holder_rule: int | None, lock_held: bool, now: datetime) -> str:
    if not rule.enabled:
        return DISABLED
    if holder_rule == rule.pk:
        return MIGRATING
    finished = rule.last_batch_finished_at
    if finished and lifecycle.is_settling(finished.timestamp(), now.timestamp(), rule.period_seconds):
        return SETTLING
    if rule.last_result == evaluate.SKIP:
        # It fired while another batch held the lock; once the lock is free it is simply firing.
        return WAITING_FOR_LOCK if lock_held else FIRING
    if rule.last_result in (evaluate.FIND_RESULT_FAIL, evaluate.RECOMMEND):
        return FIRING
    # not_triggered, or its own batch ended and settled: nothing going on until the next check.
    return IDLE


def lock_status(now: datetime | None = None) -> dict:
    """The global lock as plain data: who holds it, since and until when, and what is in flight."""
    now = now or timezone.now()
    holder = lock.current()
    batch = holder.batch if holder.batch_id else None
    counts = dict.fromkeys(Migration.ACTIVE_STATES, 0)
    if batch is not None:
        for state in batch.migrations.filter(state__in=Migration.ACTIVE_STATES).values_list("state", flat=True):
            counts[state] += 1
    return {
        "held": batch is not None,
        "batch_id": batch.pk if batch else None,
        "rule_id": batch.rule_id if batch else None,
        "rule_name": holder.holder or (batch.rule_name if batch else ""),
        "acquired_at": holder.acquired_at,
        "lease_expires_at": holder.lease_expires_at,
        "expired": bool(batch and holder.lease_expires_at and holder.lease_expires_at < now),
        "pending": counts[Migration.State.PENDING],
        "migrating": counts[Migration.State.MIGRATING],
    }
