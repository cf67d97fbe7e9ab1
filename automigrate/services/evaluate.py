"""One evaluation of a rule: snapshot → engine plan → events → (automatic mode) execution.

``evaluate_rule`` is the one entry point: the Celery beat task, the
``evaluate`` command and the API all call it. ``preview_rule`` answers "what
would it do now" without writing anything; ``approve_recommendation`` executes
a recorded recommendation through the same path as automatic mode.

Events and flooding: every decision is readable as an event, but a rule
checked every 30 s must not bury the log. So:

* ``migrating`` / ``migrate_*`` events are always written (they are actions);
* a decision that did nothing (``not_triggered``, settling) is written only
  when it differs from the rule's latest event: you see when a rule calms
  down, not every time it stays calm;
* a repeated "fired but did nothing" decision (``find_result_fail``,
  ``recommend``, ``skip``) with the same hosts, guests and blocking batch is
  written again only after DECISION_REPEAT_MINUTES (default 60), as a
  reminder that the problem persists.

"Repeats" compares whole evaluations: one evaluation may write a decision and
``find_result_fail`` events for the hosts it could not relieve, and all of
them carry one fingerprint made of both. Comparing each event alone with the
rule's latest event would never match (the latest is always the other kind),
so every check would write both again.

``rule.last_evaluated_at`` and ``rule.last_result`` are updated on every
evaluation, so "checked, nothing new" is visible without an event.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from automigrate.engine import lifecycle, plan, why_not
from automigrate.engine.explain import fmt_value
from automigrate.engine.model import CPU, Move, Plan
from automigrate.models import Event, Guest, Host, MigrationBatch, MigrationRule
from automigrate.services import execution, inventory, lock, telemetry, windows
from automigrate.services.events import new_event, record_event, record_events
from automigrate.services.snapshot import ClusterView, build_view

# rule.last_result values, also read by status.rule_states.
NOT_TRIGGERED = "not_triggered"
SETTLING = "settling"
FIND_RESULT_FAIL = "find_result_fail"
RECOMMEND = "recommend"
MIGRATING = "migrating"
SKIP = "skip"  # fired while another rule's batch held the lock
BUSY = "busy"  # fired again while its own batch is still running
DISABLED = "disabled"
OUTSIDE_WINDOW = "outside_window"  # would migrate, but a blackout or the rule's windows forbid it now

# Decisions that did nothing are recorded only when they change; never as a reminder.
_ONLY_ON_CHANGE = frozenset({NOT_TRIGGERED, SETTLING, BUSY})
MAX_LISTED = 10  # names listed in a summary before "and N more"


@dataclass
class Evaluation:
    """The outcome of one evaluation, for callers that show or log it."""

    rule: MigrationRule
    result: str
    summary: str
    plan: Plan | None = None
    batch: MigrationBatch | None = None
    events: list[Event] = field(default_factory=list)
    # A decision event not yet written: evaluate_rule writes it with the failure events, under one fingerprint.
    decision: _Decision | None = None

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.result}: {self.summary}"


@dataclass(frozen=True)
class _Decision:
    action: str
    summary: str
    notes: dict
    key: str


# --- public ----------------------------------------------------------------


def evaluate_rule(rule: MigrationRule, user=None, *, now: datetime | None = None) -> Evaluation:
    """Evaluate ``rule`` once: decide, record events, and in automatic mode start the migrations.

    Counted for /metrics: by result, with its duration (services.telemetry).
    """
    started = time.monotonic()
    evaluation = _evaluate(rule, user, now)
    telemetry.evaluation(evaluation.result, time.monotonic() - started)
    return evaluation


def _evaluate(rule: MigrationRule, user, now: datetime | None) -> Evaluation:
    # The window ends at the app's now; execution (lock, deadlines) keeps the database's clock
    # unless a time was given.
    given, now = now, now or timezone.now()
    if not rule.enabled:
        return Evaluation(rule, DISABLED, "rule is disabled: nothing evaluated")
    automatic = rule.mode == MigrationRule.Mode.AUTOMATIC
    # Both apply to both modes: a recommendation made while the rule's own (approved) batch
    # migrates, or on pre-migration samples, would be wrong too.
    early = _own_batch(rule, now) or _settling(rule, now)
    if early is not None:
        return _finish(rule, early, now)

    # A platform's inventory is read right before deciding, so guests are planned where they
    # run now; a platform that does not answer leaves the database as it was (bounded).
    inventory.sync_inventory()
    try:
        view = build_view(rule, now)
    except Exception:
        telemetry.increment("metric_source_errors", source=str(settings.AUTOMIGRATE["METRIC_SOURCE"]))
        raise
    result = plan(view.snapshot, view.spec, tuning=view.tuning)
    stale = _stale(result, view)
    if view.source_error:
        # No numbers, so no decision: one event saying why (written again only when the reason changes).
        evaluation = _source_failed(rule, view, stale)
        _record(rule, evaluation, [], now)
        return _finish(rule, evaluation, now)
    held = [skip for skip in result.skipped if skip.reason == "forecast_under"]
    if result.result == NOT_TRIGGERED and held:
        evaluation = _held_by_forecast(rule, result, held, stale)
    elif result.result == NOT_TRIGGERED:
        evaluation = _not_triggered(rule, result, stale)
    elif not result.moves:
        evaluation = Evaluation(rule, FIND_RESULT_FAIL, f"{_firing_text(result)} but nothing can move", result)
    elif automatic:
        gate = windows.state(rule, now)
        if gate.open:
            evaluation = _execute(rule, result.moves, result, stale, user, given, firing_text=_firing_text(result))
        else:
            evaluation = _outside_window(rule, result, gate)
    else:
        evaluation = _recommend(rule, result, stale, windows.state(rule, now))
    if view.ignored and evaluation.decision is not None:
        notes = {**evaluation.decision.notes, "ignored_samples": view.ignored}
        evaluation.decision = replace(evaluation.decision, notes=notes)
    if evaluation.decision is not None:
        evaluation.decision = _with_forecasts(evaluation.decision, view, result, held)
    _record(rule, evaluation, _failures(rule, result, stale, view), now)
    return _finish(rule, evaluation, now)


def preview_rule(rule: MigrationRule, *, now: datetime | None = None) -> Plan:
    """What the rule would decide now, executing and recording nothing (settling and the lock ignored)."""
    view = build_view(rule, now)
    return plan(view.snapshot, view.spec, tuning=view.tuning)


class ApprovalError(ValueError):
    """A recommendation that cannot be approved; the message says why, in one line."""


def approve_recommendation(
    event: Event, user, *, now: datetime | None = None, override_window: bool = False
) -> Evaluation:
    """Execute the moves of a ``recommend`` event through the same path as automatic mode.

    Outside the rule's windows (or in a blackout) only with ``override_window``,
    which the approve event records.
    """
    given, now = now, now or timezone.now()
    if event.action != Event.Action.RECOMMEND:
        raise ApprovalError(f"event #{event.pk} is a {event.action} event: only recommend events can be approved")
    # By id: the event keeps a deleted rule's id, and event.rule would raise for it.
    rule = MigrationRule.objects.filter(pk=event.rule_ref).first() if event.rule_ref is not None else None
    if rule is None:
        raise ApprovalError(f"the rule {event.rule_name} of recommendation #{event.pk} was deleted")
    if _approved(event):
        raise ApprovalError(f"recommendation #{event.pk} was already approved")
    gate = windows.state(rule, now)
    if not gate.open and not override_window:
        raise ApprovalError(f"recommendation #{event.pk} not approved: {gate.text}; an operator may override"
                            " the window explicitly")
    overridden = {} if gate.open else {"window_override": gate.text}
    recommended = [Move(**item["move"]) for item in event.notes.get("moves", [])]
    if not recommended:
        raise ApprovalError(f"recommendation #{event.pk} has no moves")
    moves, dropped = _still_planned(rule, recommended, now)
    if not moves:
        raise ApprovalError(
            f"recommendation #{event.pk} is out of date: the engine no longer plans any of its moves"
            f" ({_moves_text(recommended)}); preview the rule for a fresh plan"
        )
    summary = f"recommendation #{event.pk} approved: {len(moves)} move{'s' if len(moves) != 1 else ''}"
    summary += f" ({_moves_text(moves)})"
    if dropped:
        summary += f"; dropped as no longer planned: {_moves_text(dropped)}"
    if overridden:
        summary += f"; window overridden ({gate.text})"
    approvals: list[Event] = []

    def approve_under_the_lock(batch: MigrationBatch) -> None:
        # The batch holds the global lock here, so no other approval can run this
        # check at the same time; an earlier one committed its approve event with
        # its batch. Raising rolls back this batch and the lock.
        if _approved(event):
            raise ApprovalError(f"recommendation #{event.pk} was already approved")
        approvals.append(record_event(
            Event.Action.APPROVE, f"{summary}; batch #{batch.pk}", rule=rule, user=user,
            notes={"recommendation": event.pk, "batch": batch.pk,
                   "dropped": [f"{m.guest} {m.source} → {m.target}" for m in dropped], **overridden},
        ))

    # The approve event is written only once a batch holds the lock: a refused
    # approval leaves the recommendation approvable.
    started = execution.start_batch(rule, moves, user=user, now=given, on_locked=approve_under_the_lock)
    if started.lock_busy:
        raise ApprovalError(f"recommendation #{event.pk} not approved: {_holder_text(started.blocked_by)} holds"
                            " the migration lock; try again when it finishes")
    if started.batch is None:
        raise ApprovalError(f"recommendation #{event.pk} not approved: none of its moves is still valid"
                            f" ({'; '.join(started.dropped)})")
    evaluation = _started(rule, started, len(moves), None, {}, firing_text=f"recommendation #{event.pk}")
    evaluation.events = approvals + evaluation.events
    return evaluation


def _approved(recommendation: Event) -> bool:
    return Event.objects.filter(action=Event.Action.APPROVE, notes__recommendation=recommendation.pk).exists()


def _still_planned(rule: MigrationRule, recommended: list[Move], now: datetime) -> tuple[list[Move], list[Move]]:
    """Re-check a recommendation against the cluster as it is now.

    A recommendation may be hours old: the target may have filled up or the
    guest moved since. So the engine plans again on a fresh snapshot, and
    only the recommended moves it still makes run, with today's numbers.
    """
    fresh = {(m.guest, m.source, m.target): m for m in preview_rule(rule, now=now).moves}
    still = [fresh[key] for key in ((m.guest, m.source, m.target) for m in recommended) if key in fresh]
    dropped = [m for m in recommended if (m.guest, m.source, m.target) not in fresh]
    return still, dropped


# --- steps -----------------------------------------------------------------


def _own_batch(rule: MigrationRule, now: datetime) -> Evaluation | None:
    """A rule whose batch (automatic or approved) is still in flight does not look at the cluster.

    Its samples are pre-migration: a decision on them would repeat or undo the batch.
    Written once per batch ("waiting for batch #N"), not at every check.
    """
    holder = lock.current()
    if holder.batch_id and holder.batch and holder.batch.rule_id == rule.pk:
        summary = f"waiting for batch #{holder.batch_id}: its migrations are still running, so the rule decides nothing"
        summary += " until it has finished and settled"
        notes = {"reason": "own_batch", "batch": holder.batch_id}
        decision = _Decision(Event.Action.SKIP, summary, notes, f"own_batch:{holder.batch_id}")
        evaluation = Evaluation(rule, BUSY, summary, batch=holder.batch, decision=decision)
        _record(rule, evaluation, [], now)
        return evaluation
    return None


def _settling(rule: MigrationRule, now: datetime) -> Evaluation | None:
    """A rule whose last batch ended less than one window ago does not look at the cluster."""
    finished = rule.last_batch_finished_at
    if finished and lifecycle.is_settling(finished.timestamp(), now.timestamp(), rule.period_seconds):
        until = finished + timedelta(seconds=rule.period_seconds)
        summary = (
            f"settling until {until:%H:%M:%S}: the last batch finished at {finished:%H:%M:%S}, and the rule"
            f" waits one full window ({rule.period_display}) so it decides on post-migration samples only"
        )
        notes = {"reason": "settling", "batch_finished_at": finished.isoformat(), "until": until.isoformat()}
        key = f"settling:{finished.isoformat()}"
        evaluation = Evaluation(rule, SETTLING, summary, decision=_Decision(Event.Action.SKIP, summary, notes, key))
        _record(rule, evaluation, [], now)
        return evaluation
    return None


def _not_triggered(rule: MigrationRule, result: Plan, stale: dict) -> Evaluation:
    sign = ">" if rule.metric == CPU else "<"
    summary = f"no host {rule.metric} {sign} {rule.threshold_display} over {rule.period_display}"
    worst = _worst_host(result, rule.metric)
    if worst:
        summary += f" (worst: {worst[0]} at {fmt_value(rule.metric, worst[1])})"
    summary += _stale_text(stale)
    key = "not_triggered:" + ",".join(stale.get("hosts", [])) + ("+source_error" if stale.get("source_error") else "")
    decision = _Decision(Event.Action.NOT_TRIGGERED, summary, {"stale": stale}, key)
    return Evaluation(rule, NOT_TRIGGERED, summary, result, decision=decision)


def _held_by_forecast(rule: MigrationRule, result: Plan, held: list, stale: dict) -> Evaluation:
    """Hosts over the threshold on their mean whose forecast says the next window is under: nothing moves."""
    hosts = [skip.host for skip in held]
    summary = f"{_names(hosts)} over {fmt_value(rule.metric, rule.threshold)} on the mean, not acted on: "
    summary += "; ".join(f"{skip.host}: {skip.detail}" for skip in held[:MAX_LISTED])
    summary += _stale_text(stale)
    notes = {"reason": "forecast_under", "held": [{"host": s.host, "detail": s.detail} for s in held],
             "stale": stale}
    key = "forecast_under:" + ",".join(sorted(hosts))
    return Evaluation(rule, NOT_TRIGGERED, summary, result, decision=_Decision(Event.Action.SKIP, summary, notes, key))


def _with_forecasts(decision: _Decision, view: ClusterView, result: Plan, held: list) -> _Decision:
    """The forecasts the decision used (firing and held hosts), and why there were none if the query failed."""
    notes, summary = dict(decision.notes), decision.summary
    wanted = {t["host"] for t in result.triggered} | {skip.host for skip in held}
    casts = {h.name: h.forecast.to_dict() for h in view.snapshot.hosts if h.name in wanted and h.forecast}
    if casts:
        notes["forecasts"] = casts
    if held and notes.get("reason") != "forecast_under":
        notes["forecast_under"] = [{"host": s.host, "detail": s.detail} for s in held]
        summary += f"; not acted on, by forecast: {_names([s.host for s in held])}"
    if view.forecast_error:
        notes["forecast_error"] = view.forecast_error
        summary += f"; {view.forecast_error}"
    return replace(decision, notes=notes, summary=summary)


def _source_failed(rule: MigrationRule, view: ClusterView, stale: dict) -> Evaluation:
    """The metric source did not answer: nothing decided, every host stale this round."""
    summary = f"{view.source_error}: no host evaluated{_stale_text(stale)}"
    notes = {"source_error": view.source_error, "stale": stale}
    key = f"source_error:{view.source_error}"
    return Evaluation(rule, NOT_TRIGGERED, summary, decision=_Decision(Event.Action.NOT_TRIGGERED, summary, notes, key))


def _recommend(rule: MigrationRule, result: Plan, stale: dict, gate: windows.WindowState) -> Evaluation:
    when = "approve to execute" if gate.open else f"{gate.text}: approving now needs an explicit window override"
    unrelieved = sorted({failure.host for failure in result.failures})
    partial = f"; partial: leaves {_names(unrelieved)} past the threshold (see find_result_fail)" if unrelieved else ""
    summary = (
        f"{_firing_text(result)}: recommend {len(result.moves)} move{'s' if len(result.moves) != 1 else ''}"
        f" ({_moves_text(result.moves)}){partial}; {when}{_stale_text(stale)}"
    )
    ids = _platform_ids(result.moves)
    notes = {
        "moves": [_move_notes(move, ids) for move in result.moves],
        "triggered": result.triggered,
        "unrelieved": unrelieved,
        "stale": stale,
        **({} if gate.open else {"window": gate.to_dict()}),
    }
    key = "recommend:" + ";".join(f"{m.guest}:{m.source}>{m.target}" for m in result.moves)
    return Evaluation(rule, RECOMMEND, summary, result, decision=_Decision(Event.Action.RECOMMEND, summary, notes, key))


def _outside_window(rule: MigrationRule, result: Plan, gate: windows.WindowState) -> Evaluation:
    """Fired with moves to make, but not now: recorded once per closed window, nothing moves."""
    n = len(result.moves)
    summary = (f"{_firing_text(result)}: would migrate {n} guest{'s' if n != 1 else ''}"
               f" ({_moves_text(result.moves)}), but {gate.text}")
    notes = {"reason": OUTSIDE_WINDOW, "window": gate.to_dict(), "window_key": gate.key,
             "would_move": [_move_notes(move) for move in result.moves]}
    return Evaluation(rule, OUTSIDE_WINDOW, summary, result,
                      decision=_Decision(Event.Action.SKIP, summary, notes, gate.key))


def _execute(
    rule: MigrationRule, moves: list[Move], result: Plan | None, stale: dict, user, now: datetime | None,
    *, firing_text: str,
) -> Evaluation:
    """Hand moves to execution; a busy lock becomes a ``skip`` decision naming the batch that holds it."""
    started = execution.start_batch(rule, moves, user=user, now=now)
    if started.batch is not None:
        return _started(rule, started, len(moves), result, stale, firing_text=firing_text)
    dropped = _dropped_text(started)
    if not started.lock_busy:
        summary = f"{firing_text}, but no planned move is still valid{dropped}"
        return Evaluation(rule, FIND_RESULT_FAIL, summary, result)
    blocker = started.blocked_by
    if blocker is not None:
        holder = lock.current()
        lease = f", lease until {holder.lease_expires_at:%H:%M:%S}" if holder.lease_expires_at else ""
        since = f" (since {blocker.started_at:%H:%M:%S}{lease})"
        batch_notes = {"id": blocker.pk, "rule_id": blocker.rule_id, "rule": blocker.rule_name,
                       "started_at": blocker.started_at.isoformat()}
    else:
        since, batch_notes = "", None
    summary = (
        f"{firing_text}, but {_holder_text(blocker)} holds the migration lock{since}:"
        f" giving up this round, one batch at a time{_stale_text(stale)}"
    )
    notes = {
        "reason": "lock_busy",
        "batch": batch_notes,
        "would_move": [_move_notes(move) for move in moves],
        "stale": stale,
    }
    key = f"lock:{blocker.pk if blocker else ''}"
    return Evaluation(rule, SKIP, summary, result, decision=_Decision(Event.Action.SKIP, summary, notes, key))


def _started(
    rule: MigrationRule, started: execution.BatchStart, planned: int, result: Plan | None, stale: dict,
    *, firing_text: str,
) -> Evaluation:
    batch = started.batch
    summary = (
        f"{firing_text}: batch #{batch.pk} with {planned - len(started.dropped)} move(s),"
        f" {started.started} started{_dropped_text(started)}{_stale_text(stale)}"
    )
    events = list(Event.objects.filter(migration__batch=batch).order_by("id"))
    return Evaluation(rule, MIGRATING, summary, result, batch=batch, events=events)


def _holder_text(blocker: MigrationBatch | None) -> str:
    # None: the holder finished between our refused UPDATE and the read; it still held the lock then.
    return f"batch #{blocker.pk} of rule {blocker.rule_name}" if blocker else "another batch"


def _dropped_text(started: execution.BatchStart) -> str:
    return f"; dropped {len(started.dropped)}: {'; '.join(started.dropped)}" if started.dropped else ""


def _failures(rule: MigrationRule, result: Plan, stale: dict, view: ClusterView) -> list[dict]:
    """One ``find_result_fail`` per host the plan could not relieve, with the engine's notes (not yet written).

    Each names every candidate guest of its host with its reason and numbers (why_not),
    so "nothing moved" always says which guests were considered and why each stayed.
    """
    values = {item["host"]: item["value"] for item in result.triggered}
    failures = []
    explained: set[str] = set()
    for failure in result.failures:
        value = values.get(failure.host)
        where = f"{failure.host} at {fmt_value(rule.metric, value)}" if value is not None else failure.host
        rows = why_not.candidates(result, failure.host)
        summary = f"{where}: {_clip(failure.notes)}"
        if failure.host not in explained:
            # Once per host: the guest-level notes of the same host would only repeat it.
            summary += f"; why not, per guest: {why_not.summary(rows)}"
            explained.add(failure.host)
        failures.append({
            "summary": summary + _stale_text(stale),
            "source_host": _host(view, failure.host),
            # "notes" is the reference's text (users' scripts read it); the records beside it
            # (rejections, not_listed, not_tried, reason, scope) are what the dashboard renders.
            "notes": {"host": failure.host, "guest": failure.guest, "notes": failure.notes, **failure.records(),
                      "value": value, "threshold": rule.threshold, "candidates": rows,
                      "stale": stale},
        })
    return failures


def _finish(rule: MigrationRule, evaluation: Evaluation, now: datetime) -> Evaluation:
    # update(), not save(): run-time fields never produce an "update" event or touch updated_at.
    MigrationRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_result=evaluation.result)
    rule.last_evaluated_at, rule.last_result = now, evaluation.result
    return evaluation


# --- recording decisions without flooding -----------------------------------


def _record(rule: MigrationRule, evaluation: Evaluation, failures: list[dict], now: datetime) -> None:
    """Write the evaluation's decision and failure events, unless they repeat the previous ones (see module doc)."""
    decision = evaluation.decision
    if decision is None and not failures:
        return
    keys = [decision.key] if decision else []
    if failures:
        keys.append("find_result_fail:" + ";".join(sorted(f"{f['notes']['host']}/{f['notes']['guest'] or ''}"
                                                          for f in failures)))
    key = " + ".join(keys)
    # A started batch is an action, always recorded; the failures beside it are part of that record.
    if evaluation.result == OUTSIDE_WINDOW:
        # Once per closed window, whatever else was written meanwhile.
        if Event.objects.filter(rule_ref=rule.pk, notes__window_key=decision.notes["window_key"]).exists():
            return
    elif evaluation.result != MIGRATING and _suppressed(rule, key, evaluation.result, now):
        return
    # One id for the events of one evaluation, to read them together.
    marks = {"fingerprint": key, "evaluation": uuid.uuid4().hex}
    # The failures are written first: a later event of the rule means a later decision, so a
    # recommendation's own find_result_fail events (its unrelieved hosts) never supersede it.
    failed = [
        new_event(Event.Action.FIND_RESULT_FAIL, failure["summary"], rule=rule, source_host=failure["source_host"],
                  notes={**failure["notes"], **marks})
        for failure in failures
    ]
    decided = [] if decision is None else [
        new_event(decision.action, decision.summary, rule=rule, notes={**decision.notes, **marks})
    ]
    # One INSERT whatever the number of failures (ids in list order): the query count of an
    # evaluation does not grow with the hosts it could not relieve.
    record_events(failed + decided)
    # Listed as before: the hosts that could not be relieved, then what was decided or done.
    evaluation.events = failed + decided + evaluation.events


def _suppressed(rule: MigrationRule, key: str, result: str, now: datetime) -> bool:
    """Whether the rule's latest event already says this (every event of one evaluation carries its key)."""
    if result == BUSY:
        # Migration events of the batch come between checks: "waiting" is said once per batch.
        return Event.objects.filter(rule_ref=rule.pk, action=Event.Action.SKIP, notes__fingerprint=key).exists()
    latest = Event.objects.filter(rule_ref=rule.pk).order_by("-time", "-id").values("notes", "time").first()
    if latest is None or (latest["notes"] or {}).get("fingerprint") != key:
        return False
    if result in _ONLY_ON_CHANGE:
        return True
    repeat = timedelta(minutes=float(settings.AUTOMIGRATE["DECISION_REPEAT_MINUTES"]))
    return now - latest["time"] < repeat


# --- text ------------------------------------------------------------------


def _stale(result: Plan, view: ClusterView) -> dict:
    """Hosts and guests ignored for lack of fresh samples (offline or disabled hosts are expected to be quiet)."""
    hosts = sorted({
        s.host for s in result.skipped
        if s.reason == "stale_metrics" and s.host and view.hosts.get(s.host) and view.hosts[s.host].accepts_guests
    })
    guests = sorted({s.guest for s in result.skipped if s.reason == "no_guest_metrics" and s.guest})
    stale = {}
    if hosts:
        stale["hosts"] = hosts
    if guests:
        stale["guests"] = guests
    return stale


def _stale_text(stale: dict) -> str:
    source = f"; {stale['source_error']}, so this round has no metrics from it" if stale.get("source_error") else ""
    return source + _fresh_text(stale)


def _fresh_text(stale: dict) -> str:
    parts = []
    if stale.get("hosts"):
        parts.append(f"hosts {_names(stale['hosts'])}")
    if stale.get("guests"):
        parts.append(f"guests {_names(stale['guests'])}")
    if not parts:
        return ""
    return f"; no fresh samples in the window, so neither source nor target: {' and '.join(parts)}"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _firing_text(result: Plan) -> str:
    sign = ">" if result.metric == CPU else "<"
    hosts = [f"{t['host']} ({fmt_value(result.metric, t['value'])})" for t in result.triggered]
    return f"{_names(hosts)} {sign} {fmt_value(result.metric, result.threshold)}"


def _moves_text(moves: list[Move]) -> str:
    return _names([f"{m.guest} {m.source} → {m.target}" for m in moves])


def _move_notes(move: Move, ids: dict[str, dict[str, str]] | None = None) -> dict:
    """A planned move in the reference's shape plus the move itself.

    ``ids`` (from ``_platform_ids``) adds the platform's ids, e.g. Cloudpods' server and host ids.
    """
    guests, hosts = (ids or {}).get("guests", {}), (ids or {}).get("hosts", {})
    guest = {"name": move.guest, "host": move.source, "score": move.score}
    target = {"name": move.target, "score": move.target_before}
    if move.guest in guests:
        guest["id"] = guests[move.guest]
    if move.source in hosts:
        guest["host_id"] = hosts[move.source]
    if move.target in hosts:
        target["id"] = hosts[move.target]
    return {"guest": guest, "target_host": target, "move": asdict(move)}


def _platform_ids(moves: list[Move]) -> dict[str, dict[str, str]]:
    """Guest and host names -> their platform ids (two queries), for a recommendation's notes."""
    host_names = {m.source for m in moves} | {m.target for m in moves}
    return {
        "guests": dict(Guest.objects.filter(name__in=[m.guest for m in moves]).exclude(external_id="")
                       .values_list("name", "external_id")),
        "hosts": dict(Host.objects.filter(name__in=host_names).exclude(external_id="")
                      .values_list("name", "external_id")),
    }


def _worst_host(result: Plan, metric: str) -> tuple[str, float] | None:
    values = [(name, value) for name, value in result.hosts_after.items() if value is not None]
    if not values:
        return None
    return max(values, key=lambda item: item[1]) if metric == CPU else min(values, key=lambda item: item[1])


def _host(view: ClusterView, name: str) -> Host | None:
    """The host row for an event, from the snapshot (no query)."""
    ref = view.hosts.get(name)
    return Host(pk=ref.pk, name=ref.name) if ref else None


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
