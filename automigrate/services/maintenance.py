"""Maintenance mode (empty a host, keep it out of service) and repairing placement-group violations.

Both plan with the engine (``engine.maintenance``) on a fresh view of the
cluster and run the moves as one batch through ``execution.start_batch``:
the same global lock, in-flight caps, watcher and events as a rule's batch.
Global blackout windows hold them too, unless the caller passes
``through_blackout`` (recorded in the event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from automigrate.engine import maintenance as planner
from automigrate.engine.model import Failure, Move, Plan
from automigrate.models import Event, Guest, Host, MigrationBatch
from automigrate.services import execution, windows
from automigrate.services.events import record_event
from automigrate.services.snapshot import build_host_view

MAX_LISTED = 10


class MaintenanceError(ValueError):
    """Refused (blackout, lock busy, unknown host); the message says why, in one line."""


@dataclass
class Outcome:
    summary: str
    plan: Plan | None = None
    batch: MigrationBatch | None = None
    left: list[Failure] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "summary": self.summary,
            "batch": self.batch.pk if self.batch else None,
            "moves": [f"{m.guest} {m.source} → {m.target}" for m in (self.plan.moves if self.plan else [])],
            "left": [{"guest": f.guest, "reason": f.notes} for f in self.left],
            "plan": self.plan.to_dict() if self.plan else None,
        }


def _moves_text(moves: list[Move]) -> str:
    shown = [f"{m.guest} → {m.target}" for m in moves[:MAX_LISTED]]
    return ", ".join(shown) + (f" and {len(moves) - MAX_LISTED} more" if len(moves) > MAX_LISTED else "")


def _blackout(now: datetime, through_blackout: bool) -> tuple[dict, str]:
    """(notes for the event, why nothing may start) for the global blackouts at ``now``."""
    current = windows.state(None, now)
    if current.open:
        return {}, ""
    if through_blackout:
        return {"through_blackout": True, "window": current.text}, ""
    return {"window": current.text}, f"{current.text}; pass through_blackout to run it anyway"


def _run(name: str, plan: Plan, user, now: datetime, refused: str) -> tuple[MigrationBatch | None, list[str], str]:
    """Start the plan's batch; (batch, dropped moves, why nothing started)."""
    if not plan.moves or refused:
        return None, [], refused
    started = execution.start_batch(None, plan.moves, user=user, now=now, name=name)
    if started.lock_busy:
        holder = started.blocked_by
        by = f"batch #{holder.pk} of {holder.rule_name}" if holder else "another batch"
        return None, started.dropped, f"{by} holds the migration lock; try again when it finishes"
    if started.batch is None:
        return None, started.dropped, "no planned move is still valid"
    return started.batch, started.dropped, ""


def enter_maintenance(
    host: Host, user=None, *, now: datetime | None = None, through_blackout: bool = False
) -> Outcome:
    """Put ``host`` in maintenance (never a target from now on) and start moving every guest off it.

    The status changes whatever happens next; a blackout or a busy lock only
    holds the moves back (the event says so). Calling it again on a host
    already in maintenance plans the guests still there: the way to finish an
    evacuation that a blackout, a busy lock or a full cluster cut short.
    """
    now = now or timezone.now()
    window, refused = _blackout(now, through_blackout)
    events: list[Event] = []
    with transaction.atomic():
        changed = Host.objects.filter(pk=host.pk).exclude(status=Host.Status.MAINTENANCE).update(
            status=Host.Status.MAINTENANCE
        )
        if changed:
            events.append(record_event(
                Event.Action.UPDATE, f"host {host.name} enters maintenance: it is no longer a target",
                user=user, source_host=host, notes={"host": host.name, "maintenance": "enter", "before": host.status},
            ))
    host.status = Host.Status.MAINTENANCE
    view = build_host_view(f"maintenance:{host.name}", {host.name}, now)
    plan = planner.evacuate(view.snapshot, host.name, view.tuning)
    batch, dropped, refused = _run(f"maintenance:{host.name}", plan, user, now, refused)
    left = list(plan.failures)
    for failure in left:
        events.append(record_event(
            Event.Action.FIND_RESULT_FAIL, f"{host.name} in maintenance: {failure.notes}", user=user,
            source_host=host, rule_name=f"maintenance:{host.name}",
            guest=Guest.objects.filter(name=failure.guest).first() if failure.guest else None,
            notes={"host": host.name, "guest": failure.guest, "notes": failure.notes, **failure.records(),
                   "maintenance": "evacuate"},
        ))
    if batch is not None:
        summary = f"evacuating {host.name}: batch #{batch.pk} with {len(plan.moves)} move(s)"
        summary += f" ({_moves_text(plan.moves)})"
    elif refused:
        summary = f"{host.name} in maintenance, evacuation of {len(plan.moves)} guest(s) not started: {refused}"
    elif plan.failures:
        summary = f"{host.name} in maintenance, but no guest can leave"
    else:
        summary = f"{host.name} in maintenance and empty: nothing to move"
    if left:
        summary += f"; {len(left)} guest(s) stay, so the host will not be empty: " + "; ".join(
            f.notes for f in left[:MAX_LISTED])
    if dropped:
        summary += f"; dropped: {'; '.join(dropped)}"
    if window:
        summary += f"; through the blackout ({window['window']})"
    events.append(record_event(
        Event.Action.MIGRATING if batch else Event.Action.UPDATE, summary, user=user, source_host=host,
        rule_name=f"maintenance:{host.name}",
        notes={"host": host.name, "maintenance": "evacuate", "batch": batch.pk if batch else None,
               "empty": not left, "not_started": refused,
               "left": [{"guest": f.guest, "reason": f.notes} for f in left], **window},
    ))
    return Outcome(summary, plan, batch, left, events)


def exit_maintenance(host: Host, user=None) -> Outcome:
    """Return ``host`` to service; nothing moves back by itself."""
    with transaction.atomic():
        changed = Host.objects.filter(pk=host.pk, status=Host.Status.MAINTENANCE).update(status=Host.Status.ONLINE)
        if not changed:
            raise MaintenanceError(f"host {host.name} is not in maintenance (status {host.status})")
        host.status = Host.Status.ONLINE
        summary = f"host {host.name} leaves maintenance: back in service as a target; nothing moves back by itself"
        event = record_event(Event.Action.UPDATE, summary, user=user, source_host=host,
                             notes={"host": host.name, "maintenance": "exit"})
    return Outcome(summary, events=[event])


def repair(user=None, *, now: datetime | None = None, through_blackout: bool = False) -> Outcome:
    """Plan and start the fewest moves that end every ``must`` violation; nothing moves if none."""
    now = now or timezone.now()
    view = build_host_view("repair", set(), now)
    plan = planner.repair(view.snapshot, view.tuning)
    if not plan.violations:
        return Outcome("no must placement group is violated: nothing to repair", plan)
    window, refused = _blackout(now, through_blackout)
    batch, dropped, refused = _run("repair", plan, user, now, refused)
    texts = [v["text"] for v in plan.violations]
    summary = f"repair of {len(texts)} violation(s) ({'; '.join(texts[:MAX_LISTED])}): "
    if batch:
        summary += f"batch #{batch.pk} with {len(plan.moves)} move(s) ({_moves_text(plan.moves)})"
    else:
        summary += f"{len(plan.moves)} planned move(s) not started: {refused}" if refused else "no move possible"
    if plan.failures:
        summary += "; not repaired: " + "; ".join(f.notes for f in plan.failures[:MAX_LISTED])
    if dropped:
        summary += f"; dropped: {'; '.join(dropped)}"
    if window:
        summary += f"; through the blackout ({window['window']})"
    event = record_event(
        Event.Action.MIGRATING if batch else Event.Action.FIND_RESULT_FAIL, summary, user=user, rule_name="repair",
        notes={"repair": True, "violations": plan.violations, "batch": batch.pk if batch else None,
               "failures": [f.notes for f in plan.failures],
               # The same failures as records (the strings above stay for readers of the old shape).
               "failure_records": [{"host": f.host, "guest": f.guest, "notes": f.notes, **f.records()}
                                   for f in plan.failures],
               "not_started": refused, **window},
    )
    return Outcome(summary, plan, batch, list(plan.failures), [event])
