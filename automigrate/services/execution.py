"""Executing a plan: batches, the global lock, the driver, and the watcher.

A batch is one rule's moves from one decision. It exists only while it holds
the global lock (created and locked in one transaction), starts its
migrations under the in-flight caps, and ends when none is left pending or in
flight; then the lock is released and the rule starts settling.

Every state change of a Migration is claimed with a conditional UPDATE on its
current state (``pending → migrating``, ``migrating → succeeded``...), so two
watchers running at once, or a watcher and an evaluation, never both act on
the same migration nor write its event twice. Nothing lives in process
memory: a restarted worker finds every in-flight migration in the database.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from automigrate import drivers
from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver
from automigrate.engine import lifecycle
from automigrate.engine.explain import fmt_value
from automigrate.engine.model import Move
from automigrate.models import Event, Guest, Host, Migration, MigrationBatch, MigrationRule
from automigrate.services import lock, schedule
from automigrate.services.events import record_event

log = logging.getLogger(__name__)

ACTIVE = Migration.ACTIVE_STATES


@dataclass
class BatchStart:
    """What happened when a plan was handed over for execution."""

    batch: MigrationBatch | None = None
    # Refused because another batch holds the lock. Explicit: the holder may have
    # finished (blocked_by None) by the time we look, yet that was still a lost race.
    lock_busy: bool = False
    blocked_by: MigrationBatch | None = None  # the batch holding the lock, when refused and still there
    dropped: list[str] = field(default_factory=list)  # moves no longer valid, with why
    started: int = 0


@dataclass(frozen=True)
class _Slot:
    """A pending migration as lifecycle.admit_within_caps sees it: two endpoints."""

    migration: Migration
    source: int
    target: int


def reference_notes(guest: Guest, source: Host, target: Host, move: Move) -> dict:
    """The reference's event notes for one move, plus the engine's reason.

    Ids are the platform's (a Cloudpods server or host id) when there is one, so a
    platform's users recognise them; our own row ids otherwise.
    """
    return {
        "guest": {
            "id": guest.external_id or guest.pk, "name": guest.name, "host_id": source.external_id or source.pk,
            "host": source.name, "vcpu_count": guest.vcpu_count, "vmem_size": guest.vmem_size, "score": move.score,
        },
        "target_host": {"id": target.external_id or target.pk, "name": target.name, "score": move.target_before},
        "reason": move.reason,
        "move": asdict(move),
    }


def _conf(name: str) -> float:
    return settings.AUTOMIGRATE[name]


def timeout_seconds(vmem_size_mb: int) -> float:
    return lifecycle.migration_timeout_seconds(
        vmem_size_mb, _conf("MIGRATION_TIMEOUT_BASE_SECONDS"), _conf("MIGRATION_TIMEOUT_SECONDS_PER_GIB")
    )


# --- starting a batch ----------------------------------------------------


def _valid_moves(moves: Sequence[Move]) -> tuple[list[tuple[Move, Guest, Host, Host]], list[str]]:
    """Moves whose guest still runs on the planned source, with their rows; and why the others were dropped."""
    guests = {g.name: g for g in Guest.objects.select_related("host").filter(name__in=[m.guest for m in moves])}
    host_names = {m.source for m in moves} | {m.target for m in moves}
    hosts = {h.name: h for h in Host.objects.filter(name__in=host_names)}
    valid, dropped = [], []
    for move in moves:
        guest, source, target = guests.get(move.guest), hosts.get(move.source), hosts.get(move.target)
        if guest is None or source is None or target is None:
            dropped.append(f"{move.guest}: guest or host no longer exists")
        elif guest.host_id != source.pk:
            dropped.append(f"{move.guest}: now on {guest.host.name}, not on {move.source}")
        elif guest.status != Guest.Status.RUNNING:
            dropped.append(f"{move.guest}: status is {guest.status}")
        else:
            valid.append((move, guest, source, target))
    return valid, dropped


def start_batch(
    rule: MigrationRule, moves: Sequence[Move], *, user=None, now: datetime | None = None,
    on_locked: Callable[[MigrationBatch], None] | None = None,
) -> BatchStart:
    """Take the global lock for a new batch of ``moves`` and start what the caps allow.

    If another batch holds the lock, nothing is created, ``lock_busy`` is set
    and ``blocked_by`` names the holder. Moves whose guest is no longer where
    the plan saw it are dropped. ``on_locked(batch)`` runs once the lock is
    won, in the same transaction and before any migration starts: if it
    raises, the batch and the lock are rolled back and the error propagates
    (an approval uses it to check and record itself under the lock).
    """
    now = now or timezone.now()
    # Resolve the driver before taking the lock: a misconfigured one must not hold it for a lease.
    driver = drivers.get_driver()
    valid, dropped = _valid_moves(moves)
    if not valid:
        return BatchStart(dropped=dropped)
    with transaction.atomic():
        batch = MigrationBatch.objects.create(
            rule=rule, rule_name=rule.name, started_at=now,
            hosts=sorted({move.source for move, *_ in valid}),
        )
        acquired = lock.acquire(batch, now)
        if acquired.won:
            if acquired.previous_batch_id:
                _expire(acquired.previous_batch_id, batch, now)
            if on_locked is not None:
                on_locked(batch)
            Migration.objects.bulk_create([
                Migration(
                    guest=guest, source=source, target=target, rule=rule, batch=batch,
                    score=move.score, target_score=move.target_score, requested_at=now,
                    notes={**reference_notes(guest, source, target, move), "batch": batch.pk},
                )
                for move, guest, source, target in valid
            ])
        else:
            # Undo the batch row: a batch exists only while it holds the lock.
            transaction.set_rollback(True)
    if not acquired.won:
        blocker = MigrationBatch.objects.filter(pk=acquired.previous_batch_id).first()
        return BatchStart(lock_busy=True, blocked_by=blocker, dropped=dropped)
    started = advance_batch(batch, user=user, now=now, driver=driver)
    return BatchStart(batch=batch, dropped=dropped, started=started)


def _expire(batch_id: int, successor: MigrationBatch, now: datetime) -> None:
    """A batch whose lease ran out lost the lock: its waiting migrations must not start.

    Runs inside the transaction that gave ``successor`` the lock. Each
    cancelled migration gets a ``migrate_fail`` event, as a refused or timed
    out one does: it was planned, and it will not happen.
    """
    expired = MigrationBatch.objects.filter(pk=batch_id, finished_at__isnull=True).update(
        state=MigrationBatch.State.EXPIRED, finished_at=now
    )
    error = (
        f"cancelled before it started: batch #{batch_id} lost the migration lock when its lease ran out,"
        f" and batch #{successor.pk} of rule {successor.rule_name} took it over"
    )
    waiting = list(
        Migration.objects.filter(batch_id=batch_id, state=Migration.State.PENDING)
        .select_related("guest", "source", "target", "rule", "batch")
    )
    for migration in waiting:
        # Claimed one by one, like every state change, so the event is written only for what was cancelled.
        if not Migration.objects.filter(pk=migration.pk, state=Migration.State.PENDING).update(
            state=Migration.State.CANCELLED, finished_at=now, error=error
        ):
            continue
        _event(
            Event.Action.MIGRATE_FAIL, migration, None,
            f"{_who(migration)} migration {migration.source.name} → {migration.target.name} {error}",
            error=error,
        )
    if expired:
        rule_id = MigrationBatch.objects.filter(pk=batch_id).values_list("rule_id", flat=True).first()
        MigrationRule.objects.filter(pk=rule_id).update(last_batch_finished_at=now)
        log.warning("batch #%s lost the migration lock: its lease expired and another batch took it", batch_id)


def advance_batch(
    batch: MigrationBatch, *, user=None, now: datetime | None = None, driver: MigrationDriver | None = None
) -> int:
    """Start the batch's pending migrations that fit under the in-flight caps; returns how many started.

    Only while the batch holds the lock: a batch read before another took over
    its expired lease must not start anything (renewing also proves it holds it).
    """
    now = now or timezone.now()
    if not lock.renew(batch.pk, now):
        return 0
    pending = list(
        batch.migrations.filter(state=Migration.State.PENDING)
        .select_related("guest", "guest__host", "source", "target", "rule")
        .order_by("pk")
    )
    if not pending:
        return 0
    in_flight = list(Migration.objects.filter(state=Migration.State.MIGRATING).values_list("source_id", "target_id"))
    by_host = Counter(host for pair in in_flight for host in set(pair))
    admitted, _deferred = lifecycle.admit_within_caps(
        [_Slot(m, m.source_id, m.target_id) for m in pending], len(in_flight), by_host,
        int(_conf("MAX_IN_FLIGHT")), int(_conf("MAX_IN_FLIGHT_PER_HOST")),
    )
    driver = driver or drivers.get_driver()
    started = 0
    for slot in admitted:
        outcome = _start_one(slot.migration, driver, user, now)
        if outcome is False:
            _abandon(batch, slot.migration, now)
            break
        started += bool(outcome)
    return started


def _start_one(migration: Migration, driver: MigrationDriver, user, now: datetime) -> bool | None:
    """True if started, False if the driver refused, None if another worker got to it first."""
    deadline = now + timedelta(seconds=timeout_seconds(migration.guest.vmem_size))
    claimed = Migration.objects.filter(pk=migration.pk, state=Migration.State.PENDING).update(
        state=Migration.State.MIGRATING, started_at=now, deadline_at=deadline
    )
    if not claimed:
        return None
    migration.state, migration.started_at, migration.deadline_at = Migration.State.MIGRATING, now, deadline
    try:
        problem = driver.precheck(migration)
        if problem:
            raise DriverError(problem)
        ref = driver.start(migration, now)
    except Exception as exc:  # a driver bug must not leave the migration claimed forever
        if not isinstance(exc, DriverError):
            log.exception("driver %s crashed starting migration #%s", driver.name, migration.pk)
        error = str(exc) or exc.__class__.__name__
        Migration.objects.filter(pk=migration.pk).update(
            state=Migration.State.FAILED, finished_at=now, error=error
        )
        migration.state, migration.error = Migration.State.FAILED, error
        return False
    # All or nothing: the driver's reference, the guest's status and the event.
    with transaction.atomic():
        Migration.objects.filter(pk=migration.pk).update(driver_ref=ref)
        Guest.objects.filter(pk=migration.guest_id).update(status=Guest.Status.MIGRATING)
        _event(
            Event.Action.MIGRATING, migration, user,
            f"{_who(migration)} migrating {migration.source.name} → {migration.target.name}"
            f" (score {_score(migration, migration.score)}, target at"
            f" {_score(migration, migration.notes['target_host']['score'])}); timeout"
            f" {timeout_seconds(migration.guest.vmem_size):.0f} s",
        )
    return True


def _abandon(batch: MigrationBatch, refused: Migration, now: datetime) -> None:
    """A refused start aborts the rest of the batch, as in the reference."""
    # One transaction: cancelled migrations, an aborted batch and the event that explains them.
    with transaction.atomic():
        abandoned = Migration.objects.filter(batch=batch, state=Migration.State.PENDING).update(
            state=Migration.State.CANCELLED, finished_at=now,
            error=f"abandoned: the migration of {refused.guest.name} was refused",
        )
        MigrationBatch.objects.filter(pk=batch.pk, state=MigrationBatch.State.RUNNING).update(
            state=MigrationBatch.State.ABORTED
        )
        batch.state = MigrationBatch.State.ABORTED
        _event(
            Event.Action.MIGRATE_ERROR, refused, None,
            f"{_who(refused)}: migration {refused.source.name} → {refused.target.name} refused: {refused.error};"
            f" batch #{batch.pk} abandoned ({abandoned} waiting migration{'s' if abandoned != 1 else ''} cancelled)",
            error=refused.error,
        )
    if not batch.migrations.filter(state=Migration.State.MIGRATING).exists():
        # Nothing left in flight: free the lock now rather than at the watcher's next pass.
        finish_batch(batch, now)


# --- watching ------------------------------------------------------------


@dataclass
class WatchReport:
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    started: int = 0
    batches_finished: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in vars(self).items())


def watch_migrations(now: datetime | None = None) -> WatchReport:
    """Poll every in-flight migration, start waiting ones, end finished batches.

    Reads everything from the database, so it resumes whatever a dead worker
    left behind. Safe to run concurrently with itself.
    """
    now = now or timezone.now()
    report = WatchReport()
    driver = drivers.get_driver()
    in_flight = Migration.objects.filter(state=Migration.State.MIGRATING).select_related(
        "guest", "source", "target", "rule", "batch"
    )
    for migration in in_flight:
        outcome = _check_one(migration, driver, now)
        if outcome:
            setattr(report, outcome, getattr(report, outcome) + 1)
    for batch in MigrationBatch.objects.filter(finished_at__isnull=True).select_related("rule"):
        if batch.state == MigrationBatch.State.RUNNING:
            report.started += advance_batch(batch, now=now, driver=driver)
        if batch.migrations.filter(state__in=ACTIVE).exists():
            lock.renew(batch.pk, now)
        elif finish_batch(batch, now):
            report.batches_finished += 1
    _release_orphaned_lock()
    return report


def _check_one(migration: Migration, driver: MigrationDriver, now: datetime) -> str | None:
    try:
        result = driver.poll(migration, now)
    except Exception:  # a flaky driver: keep polling until the deadline decides
        log.exception("driver %s failed polling migration #%s", driver.name, migration.pk)
        result = None
    if result is not None and result.progress is not None and result.status not in (SUCCEEDED, FAILED):
        Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(progress=result.progress)
    if result is not None and result.status == SUCCEEDED:
        if result.host_name and result.host_name != migration.target.name:
            return _fail(migration, now, f"the guest ended on {result.host_name} instead of {migration.target.name}",
                         host_name=result.host_name)
        return _succeed(migration, now)
    if result is not None and result.status == FAILED:
        return _fail(migration, now, result.error or "the driver reported a failure", host_name=result.host_name)
    if migration.deadline_at is not None and now >= migration.deadline_at:
        settled = _cancel(migration, driver, now)
        if settled is not None and settled.status == SUCCEEDED and settled.host_name in (None, migration.target.name):
            return _succeed(migration, now)  # it finished before the cancel took: that is the outcome
        limit = timeout_seconds(migration.guest.vmem_size)
        return _fail(
            migration, now,
            f"timed out after {limit:.0f} s (limit for {migration.guest.vmem_size / 1024:.1f} GiB of memory)",
            state=Migration.State.TIMED_OUT,
            host_name=settled.host_name if settled is not None and settled.status != RUNNING else None,
        )
    return None


def _cancel(migration: Migration, driver: MigrationDriver, now: datetime):
    """Cancel a timed-out migration, then ask once where it settled (None: unknown)."""
    try:
        driver.cancel(migration)
        return driver.poll(migration, now)
    except Exception:
        log.exception("driver %s failed cancelling migration #%s", driver.name, migration.pk)
        return None


def _claim_end(migration: Migration, state: str, now: datetime, error: str = "") -> bool:
    return Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(
        state=state, finished_at=now, error=error
    ) == 1


@transaction.atomic
def _succeed(migration: Migration, now: datetime) -> str | None:
    # Atomic: a crash after the claim must not leave a succeeded migration whose guest is still `migrating`.
    if not _claim_end(migration, Migration.State.SUCCEEDED, now):
        return None
    Guest.objects.filter(pk=migration.guest_id).update(
        host=migration.target_id, status=Guest.Status.RUNNING,
        last_migrated_at=now, last_migrated_from=migration.source_id,
    )
    seconds = (now - migration.started_at).total_seconds() if migration.started_at else 0.0
    _event(
        Event.Action.MIGRATE_SUCCESS, migration, None,
        f"{_who(migration)} migrated {migration.source.name} → {migration.target.name} in {seconds:.0f} s",
    )
    return "succeeded"


@transaction.atomic
def _fail(
    migration: Migration, now: datetime, error: str, *, state: str = Migration.State.FAILED,
    host_name: str | None = None,
) -> str | None:
    # Atomic for the same reason as _succeed: the claim, the guest and the event stand or fall together.
    if not _claim_end(migration, state, now, error):
        return None
    # Where the guest is now: the driver's word if it knows, otherwise still on its source.
    landed = Host.objects.filter(name=host_name).values_list("pk", flat=True).first() if host_name else None
    Guest.objects.filter(pk=migration.guest_id).update(
        status=Guest.Status.RUNNING, host=landed or migration.guest.host_id
    )
    verb = "timed out" if state == Migration.State.TIMED_OUT else "failed"
    _event(
        Event.Action.MIGRATE_FAIL, migration, None,
        f"{_who(migration)} migration {migration.source.name} → {migration.target.name} {verb}: {error}",
        error=error,
    )
    return "timed_out" if state == Migration.State.TIMED_OUT else "failed"


@transaction.atomic
def finish_batch(batch: MigrationBatch, now: datetime | None = None) -> bool:
    """End a batch with nothing left to do: release the lock, start the rule's settle time.

    One transaction, so a crash never leaves a finished batch still holding
    the lock or a rule that never starts settling. ABORTED or FINISHED is
    decided by the database row, not by ``batch`` as read earlier: another
    worker may have aborted it since.
    """
    now = now or timezone.now()
    ended = MigrationBatch.objects.filter(pk=batch.pk, finished_at__isnull=True).update(
        state=Case(
            When(state=MigrationBatch.State.ABORTED, then=Value(MigrationBatch.State.ABORTED)),
            default=Value(MigrationBatch.State.FINISHED),
        ),
        finished_at=now,
    )
    if not ended:
        return False
    lock.release(batch.pk)
    if batch.rule_id:
        MigrationRule.objects.filter(pk=batch.rule_id).update(last_batch_finished_at=now)
        rule = MigrationRule.objects.filter(pk=batch.rule_id).first()
        if rule is not None:
            schedule.check_after_settling(rule, now)
    return True


def _release_orphaned_lock() -> None:
    """A lock held by a batch that has already ended (a crash between the two writes) is freed."""
    holder = lock.holder_batch_id()
    if holder and MigrationBatch.objects.filter(pk=holder, finished_at__isnull=False).exists():
        lock.release(holder)


# --- events --------------------------------------------------------------


def _who(migration: Migration) -> str:
    guest = migration.guest
    return f"{guest.name} ({guest.vcpu_count} vCPU, {guest.vmem_size / 1024:.1f} GiB)"


def _score(migration: Migration, value: float) -> str:
    metric = migration.rule.metric if migration.rule else None
    return fmt_value(metric, value) if metric else f"{value:g}"


def _event(action: str, migration: Migration, user, summary: str, error: str | None = None) -> Event:
    notes = {key: migration.notes[key] for key in ("guest", "target_host", "reason", "batch") if key in migration.notes}
    notes["migration"] = migration.pk
    if error is not None:
        notes["error"] = error
    rule = migration.rule
    return record_event(
        action, summary,
        rule=rule, rule_name="" if rule else (migration.batch.rule_name if migration.batch else ""),
        user=user, guest=migration.guest, source_host=migration.source, target_host=migration.target,
        migration=migration, notes=notes,
    )
