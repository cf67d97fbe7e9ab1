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

Nothing outside can stall it. Every driver call is bounded (drivers.bounded);
the watcher judges each migration's deadline *before* asking the driver, so a
migration is timed out on time even when its driver never answers, and the
cancel that follows runs in the background. Deadlines and the lock's lease
are written and judged by the database's clock (services/clock.py).

A start is recorded before the driver is asked: the claim ``pending →
migrating`` stores ``started_at`` and the deadline, then the driver is called
with the migration's id as idempotency key, then ``start_confirmed_at``. A
process that dies in between leaves a migration claimed but unconfirmed; the
watcher asks the driver about it (``poll`` by that key) and never starts it again.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Value, When

from automigrate import drivers
from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver
from automigrate.drivers.bounded import BoundedDriver, call_timeout
from automigrate.engine import lifecycle
from automigrate.engine.explain import fmt_value
from automigrate.engine.model import Move
from automigrate.models import Event, Guest, Host, Migration, MigrationBatch, MigrationRule
from automigrate.services import clock, lock, schedule
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
    rule: MigrationRule | None, moves: Sequence[Move], *, user=None, now: datetime | None = None,
    on_locked: Callable[[MigrationBatch], None] | None = None, name: str = "",
) -> BatchStart:
    """Take the global lock for a new batch of ``moves`` and start what the caps allow.

    If another batch holds the lock, nothing is created, ``lock_busy`` is set
    and ``blocked_by`` names the holder. Moves whose guest is no longer where
    the plan saw it are dropped. ``on_locked(batch)`` runs once the lock is
    won, in the same transaction and before any migration starts: if it
    raises, the batch and the lock are rolled back and the error propagates
    (an approval uses it to check and record itself under the lock).
    ``now`` None: the database's clock (lease, deadlines).
    A batch of no rule (maintenance evacuation, group repair) passes
    ``rule=None`` and a ``name`` such as ``maintenance:h3``.
    """
    given, now = now, now or clock.db_now()
    # Resolve the driver before taking the lock: a misconfigured one must not hold it for a lease.
    driver = drivers.get_driver()
    valid, dropped = _valid_moves(moves)
    if not valid:
        return BatchStart(dropped=dropped)
    with transaction.atomic():
        batch = MigrationBatch.objects.create(
            rule=rule, rule_name=rule.name if rule is not None else name, started_at=now,
            hosts=sorted({move.source for move, *_ in valid}),
        )
        acquired = lock.acquire(batch, given)
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
    started = advance_batch(batch, user=user, now=given, driver=driver)
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
    given, now = now, now or clock.db_now()
    if not lock.renew(batch.pk, given):
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
    driver = drivers.bounded(driver or drivers.get_driver())
    started = 0
    for slot in admitted:
        outcome = _start_one(slot.migration, driver, user, given)
        if outcome is False or outcome is UNANSWERED:
            _abandon(batch, slot.migration, now)
            break
        started += bool(outcome)
    return started


# _start_one's answer when driver.start did not answer within its bound.
UNANSWERED = "unanswered"


def _start_one(migration: Migration, driver: BoundedDriver, user, given: datetime | None) -> bool | str | None:
    """True if started, False if the driver refused, None if another worker got to it first.

    UNANSWERED if ``start`` did not answer within its bound: the platform may or may
    not have started it, so the migration stays claimed (unconfirmed) and the watcher
    asks the driver about it by its id until its deadline decides.

    The intent (state, started_at, deadline, by the database's clock unless ``given``) is
    claimed before the driver is called; only then is the driver asked, with the migration's
    id as idempotency key.
    """
    limit = timeout_seconds(migration.guest.vmem_size)
    claimed = Migration.objects.filter(pk=migration.pk, state=Migration.State.PENDING).update(
        state=Migration.State.MIGRATING, started_at=clock.at(given), deadline_at=clock.at(given, limit)
    )
    if not claimed:
        return None
    migration.state = Migration.State.MIGRATING
    migration.started_at, migration.deadline_at = Migration.objects.filter(pk=migration.pk).values_list(
        "started_at", "deadline_at"
    ).get()
    asked_to_start = False
    try:
        problem = driver.precheck(migration)
        if problem:
            raise DriverError(problem)
        asked_to_start = True
        ref = driver.start(migration, migration.started_at)
    except Exception as exc:  # a driver bug must not leave the migration claimed forever
        if not isinstance(exc, DriverError):
            log.exception("driver %s crashed starting migration #%s", driver.name, migration.pk)
        error = str(exc) or exc.__class__.__name__
        if asked_to_start and isinstance(exc, CallTimedOut):
            Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(error=error)
            migration.error = error
            return UNANSWERED
        Migration.objects.filter(pk=migration.pk).update(
            state=Migration.State.FAILED, finished_at=clock.at(given), error=error
        )
        migration.state, migration.error = Migration.State.FAILED, error
        return False
    _confirm_start(migration, ref, user, given)
    return True


@transaction.atomic
def _confirm_start(migration: Migration, ref: str, user, given: datetime | None, *, resumed: bool = False) -> bool:
    """All or nothing: the driver's reference, the confirmation, the guest's status and the event."""
    confirmed = Migration.objects.filter(
        pk=migration.pk, state=Migration.State.MIGRATING, start_confirmed_at__isnull=True
    ).update(driver_ref=ref or migration.driver_ref, start_confirmed_at=clock.at(given))
    if not confirmed:
        return False
    Guest.objects.filter(pk=migration.guest_id).update(status=Guest.Status.MIGRATING)
    how = (
        "; resumed: its start was requested before a restart and the driver reports it running"
        if resumed else ""
    )
    _event(
        Event.Action.MIGRATING, migration, user,
        f"{_who(migration)} migrating {migration.source.name} → {migration.target.name}"
        f" (score {_score(migration, migration.score)}, target at"
        f" {_score(migration, migration.notes['target_host']['score'])}); timeout"
        f" {_limit_seconds(migration):.0f} s{how}",
    )
    return True


def _limit_seconds(migration: Migration) -> float:
    """The time this migration was given, from its stored deadline (not today's settings)."""
    if migration.deadline_at and migration.started_at:
        return (migration.deadline_at - migration.started_at).total_seconds()
    return timeout_seconds(migration.guest.vmem_size)


def _cancel_in_background(driver: MigrationDriver, migration: Migration) -> None:
    """Best effort, never waited for: ask the driver to stop ``migration``, bounded, in a daemon thread.

    The thread only talks to the driver; it writes nothing (a late answer has nobody to tell).
    """
    inner = driver.inner if isinstance(driver, BoundedDriver) else driver
    if inner.bounded_by_database:
        try:
            inner.cancel(migration)
        except Exception:
            log.exception("driver %s failed cancelling migration #%s", inner.name, migration.pk)
        return

    def cancel() -> None:
        try:
            call_bounded(inner.cancel, migration, seconds=call_timeout("cancel"), what="driver cancel",
                         key=(id(type(inner)), "cancel", migration.pk))
        except CallTimedOut as exc:
            log.warning("migration #%s: %s", migration.pk, exc)
        except Exception:
            log.exception("driver %s failed cancelling migration #%s", inner.name, migration.pk)

    threading.Thread(target=cancel, name=f"cancel migration {migration.pk}", daemon=True).start()


def _abandon(batch: MigrationBatch, refused: Migration, now: datetime) -> None:
    """A refused (or unanswered) start aborts the rest of the batch, as in the reference."""
    unanswered = refused.state == Migration.State.MIGRATING
    what = (
        f"{refused.error}; the watcher asks the driver about it until its deadline"
        f" ({_limit_seconds(refused):.0f} s after the start) and times it out then"
        if unanswered else f"refused: {refused.error}"
    )
    # One transaction: cancelled migrations, an aborted batch and the event that explains them.
    with transaction.atomic():
        abandoned = Migration.objects.filter(batch=batch, state=Migration.State.PENDING).update(
            state=Migration.State.CANCELLED, finished_at=now,
            error=f"abandoned: the migration of {refused.guest.name} was"
            f" {'not answered' if unanswered else 'refused'}",
        )
        MigrationBatch.objects.filter(pk=batch.pk, state=MigrationBatch.State.RUNNING).update(
            state=MigrationBatch.State.ABORTED
        )
        batch.state = MigrationBatch.State.ABORTED
        _event(
            Event.Action.MIGRATE_ERROR, refused, None,
            f"{_who(refused)}: migration {refused.source.name} → {refused.target.name} {what};"
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
    """Judge every in-flight migration, start waiting ones, end finished batches.

    Reads everything from the database, so it resumes whatever a dead worker
    left behind. Safe to run concurrently with itself. ``now`` None: the
    database's clock. A driver that never answers costs each migration at most
    one poll bound per pass, and none once its deadline has passed.
    """
    given, now = now, now or clock.db_now()
    report = WatchReport()
    driver = drivers.bounded(drivers.get_driver())
    in_flight = Migration.objects.filter(state=Migration.State.MIGRATING).select_related(
        "guest", "source", "target", "rule", "batch"
    )
    for migration in in_flight:
        outcome = _check_one(migration, driver, now, given)
        if outcome:
            setattr(report, outcome, getattr(report, outcome) + 1)
    for batch in MigrationBatch.objects.filter(finished_at__isnull=True).select_related("rule"):
        if batch.state == MigrationBatch.State.RUNNING:
            report.started += advance_batch(batch, now=given, driver=driver)
        if batch.migrations.filter(state__in=ACTIVE).exists():
            lock.renew(batch.pk, given)
        elif finish_batch(batch, given):
            report.batches_finished += 1
    _release_orphaned_lock()
    return report


def _check_one(migration: Migration, driver: BoundedDriver, now: datetime, given: datetime | None) -> str | None:
    # The deadline first: a driver that never answers must not keep a migration past it.
    if _overdue(migration, now):
        return _time_out(migration, driver, given)
    if not (migration.start_confirmed_at or migration.driver_ref) and _start_may_be_running(migration, now):
        return None  # another worker is inside driver.start right now: its answer decides
    try:
        result = driver.poll(migration, now)
    except DriverError as exc:  # includes a poll past its bound: keep polling until the deadline decides
        _note_poll_error(migration, str(exc))
        result = None
    except Exception as exc:  # a flaky driver: the same
        log.exception("driver %s failed polling migration #%s", driver.name, migration.pk)
        _note_poll_error(migration, f"driver poll failed: {exc.__class__.__name__}: {exc}")
        result = None
    if result is None:
        # The poll may have taken its whole bound: look at the deadline again, on the clock.
        return _time_out(migration, driver, given) if _overdue(migration, given or clock.db_now()) else None
    if migration.error:
        Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(error="")
        migration.error = ""
    if result.progress is not None and result.status not in (SUCCEEDED, FAILED):
        Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(progress=result.progress)
    if result.status == SUCCEEDED:
        if result.host_name and result.host_name != migration.target.name:
            return _fail(migration, now, f"the guest ended on {result.host_name} instead of {migration.target.name}",
                         host_name=result.host_name)
        return _succeed(migration, now)
    if result.status == FAILED:
        return _fail(migration, now, result.error or "the driver reported a failure", host_name=result.host_name)
    if result.status == RUNNING and not (migration.start_confirmed_at or migration.driver_ref):
        # Started by a process that died before recording it: adopt it, never start it again.
        _confirm_start(migration, "", None, given, resumed=True)
    return None


def _overdue(migration: Migration, now: datetime) -> bool:
    return migration.deadline_at is not None and now >= migration.deadline_at


def _start_may_be_running(migration: Migration, now: datetime) -> bool:
    """Whether a worker may still be waiting on driver.start for this claimed, unconfirmed migration."""
    if migration.started_at is None:
        return True
    window = call_timeout("precheck") + call_timeout("start") + float(_conf("WATCH_INTERVAL_SECONDS"))
    return (now - migration.started_at).total_seconds() < window


def _note_poll_error(migration: Migration, error: str) -> None:
    """Kept on the in-flight migration (the migrations page shows it) and repeated by its timeout event."""
    log.warning("migration #%s: %s", migration.pk, error)
    if migration.error != error:
        Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING).update(error=error)
        migration.error = error


def _time_out(migration: Migration, driver: BoundedDriver, given: datetime | None) -> str | None:
    """Past its deadline: timed out now, whatever the driver says or doesn't; the cancel runs in the background.

    The text comes from the migration's stored start and deadline, not from today's settings.
    """
    gib = migration.guest.vmem_size / 1024
    error = f"timed out after {_limit_seconds(migration):.0f} s (limit for {gib:.1f} GiB of memory)"
    if migration.error:
        error += f"; {migration.error}"
    outcome = _fail(migration, given, error, state=Migration.State.TIMED_OUT)
    if outcome:
        _cancel_in_background(driver, migration)
    return outcome


def _claim_end(migration: Migration, state: str, now: datetime | None, error: str = "") -> bool:
    claim = Migration.objects.filter(pk=migration.pk, state=Migration.State.MIGRATING)
    if state == Migration.State.TIMED_OUT:
        claim = claim.filter(deadline_at__lte=clock.at(now))  # judged again, by the database, in the claim
    return claim.update(state=state, finished_at=clock.at(now), error=error) == 1


@transaction.atomic
def _succeed(migration: Migration, now: datetime) -> str | None:
    # Atomic: a crash after the claim must not leave a succeeded migration whose guest is still `migrating`.
    if not _claim_end(migration, Migration.State.SUCCEEDED, now):
        return None
    Guest.objects.filter(pk=migration.guest_id).update(
        host=migration.target_id, status=Guest.Status.RUNNING,
        last_migrated_at=now, last_migrated_from=migration.source_id,
    )
    seconds = max(0.0, (now - migration.started_at).total_seconds()) if migration.started_at else 0.0
    _event(
        Event.Action.MIGRATE_SUCCESS, migration, None,
        f"{_who(migration)} migrated {migration.source.name} → {migration.target.name} in {seconds:.0f} s",
    )
    return "succeeded"


@transaction.atomic
def _fail(
    migration: Migration, now: datetime | None, error: str, *, state: str = Migration.State.FAILED,
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
    now = now or clock.db_now()
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
