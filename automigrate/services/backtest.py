"""Backtest a rule on this cluster's own history: what would it have done over the last N days?

The recorded history becomes a replay trace (``automigrate.simulator.traces.Trace``), which
``automigrate.simulator.replay`` replays exactly as ``manage.py simulate`` does, under the
rule's current threshold, period and host/guest lists and under each policy:

- **hosts**: the inventory as it is now (CPU count, memory);
- **guests**: those with CPU samples in the window, with their vCPUs and memory now, and their
  CPU per step: the mean of their samples in each step ``[t, t + step)``, from our tables
  (database, simulator, libvirt and Proxmox sources) through ``services.history.guest_means``,
  which reads the 1-minute or 5-minute roll-ups or the raw samples, whichever is kept for the
  window (the step is never finer than that: 5 minutes or more past the 1-minute roll-ups'
  retention), or, for an external store, one ``guest_means`` question per step;
- **gaps**: a step without a sample repeats the guest's last value for up to
  ``GAP_HOLD_SECONDS`` (a late or lost sample is not an idle guest), after that and before the
  guest's first sample its CPU is 0 (it was stopped or did not exist yet); both are counted;
- **placement at the start**: where each guest runs now, walked back through the successful
  migrations that finished since the start (each moves its guest back to its source).

Host CPU in the replay is the sum of its guests' busy cores over the host's cores (the
replay's model): load on a host that no guest reports (the hypervisor itself, guests without
samples) is not in it. The replay models CPU only, so memory rules are refused.

``run`` returns a ``Backtest``: one row per policy (overload host-minutes, migrations, GiB,
ping-pongs) and, per step, the hosts above the threshold with each policy ("none": without
the rule). ``trace_json`` gives the same trace in simulate's JSON format, so
``simulate --trace`` on it gives the same figures.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from automigrate.engine.model import CPU, PINNED_LABELS, RuleSpec
from automigrate.models import Guest, Host, Migration, MigrationRule
from automigrate.services import history as stored_history
from automigrate.services.snapshot import rule_spec, tuning_from_settings
from automigrate.simulator import replay as replayer
from automigrate.simulator.traces import GuestTrace, HostSpec, Trace
from automigrate.sources import SourceError, get_source, source_class
from automigrate.sources.base import clip
from automigrate.units import format_period, parse_period

# How far back a backtest may look; samples older than the retention are gone anyway.
MAX_SINCE_SECONDS = 31 * 86400
DEFAULT_SINCE_SECONDS = 7 * 86400
# The step sizes a backtest picks from: the finest whose guest-steps fit MAX_GUEST_STEPS.
STEP_CHOICES = (60, 120, 300, 600, 900, 1800, 3600)
# Guest values held in memory (a float object each, twice: the trace and the replay's busy
# cores): 2.9 M took a 579 MiB worker (BENCHMARKS.md), so 4 M is up to ~0.8 GB.
MAX_GUEST_STEPS = 4_000_000
MIN_STEPS = 2
# Each query of the history reads this much of it (bounded by statement_timeout, gives progress).
READ_SLICE_SECONDS = 3 * 3600
# A step without a sample repeats the last one for this long, then counts as 0 % (stopped).
GAP_HOLD_SECONDS = 600
# The policy of the live evaluator (engine.plan's default): "with the rule".
LIVE_POLICY = "automigrate"
WITHOUT_RULE = "none"
ROUND_CPU = 4  # decimals kept per step, as the trace readers do

Progress = Callable[[float, str], None]


class BacktestError(Exception):
    """A backtest that cannot run; ``str()`` is one line saying why and what to do."""


def _quiet(fraction: float, message: str) -> None:
    pass


# --- input ------------------------------------------------------------------


def parse_since(text: str) -> int:
    """'7d', '12h', '90m' -> seconds (at least two of the finest steps, at most 31 days); ValueError in one line."""
    seconds = parse_period(text, maximum=MAX_SINCE_SECONDS)
    if seconds < MIN_STEPS * STEP_CHOICES[0]:
        raise ValueError(f"'{text}' is too short: at least {format_period(MIN_STEPS * STEP_CHOICES[0])}")
    return seconds


def parse_step(text: str) -> int:
    """'1m', '5m'... -> seconds: one of STEP_CHOICES; ValueError in one line."""
    seconds = parse_period(text)
    if seconds not in STEP_CHOICES:
        raise ValueError(f"'{text}' is not offered: use one of {', '.join(format_period(s) for s in STEP_CHOICES)}")
    return seconds


def parse_until(text: str) -> datetime:
    """An ISO 8601 time (no zone: UTC) the window ends at, not in the future; ValueError in one line."""
    try:
        until = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"'{str(text)[:40]}' is not a time: use ISO 8601, e.g. 2026-12-01T18:00 (UTC) or"
                         " 2026-12-01T18:00+01:00") from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until > timezone.now():
        raise ValueError(f"'{str(text)[:40]}' is in the future: a backtest replays what was recorded")
    return until


def check_policies(names: Sequence[str] | None) -> tuple[str, ...]:
    """The policies to replay, in POLICIES order, always with "none" (the "without the rule" series)."""
    available = replayer.POLICIES
    wanted = set(names or available)
    unknown = sorted(wanted - set(available))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a policy: use one of {', '.join(available)}")
    wanted.add(WITHOUT_RULE)
    return tuple(p for p in available if p in wanted)


def choose_step(since_seconds: int, guests: int) -> int:
    """The finest step whose guest-steps fit in memory (MAX_GUEST_STEPS)."""
    for step in STEP_CHOICES:
        if since_seconds // step * max(1, guests) <= MAX_GUEST_STEPS:
            return step
    return STEP_CHOICES[-1]


def check_rule(rule: MigrationRule) -> None:
    if rule.metric != CPU:
        raise BacktestError(
            f"rule {rule.name} watches {rule.metric}: the replay models CPU only, so memory rules"
            " cannot be backtested (yet)"
        )


# --- the trace --------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """The recorded window as a replay trace, with what was filled in or left out."""

    trace: Trace
    start: datetime
    step_seconds: int
    # what the oldest steps were read from (services.history: "raw", "1m", "5m"); "" from an external store
    resolution: str = ""
    # guest-steps that repeated the last value / counted as 0 (before the first sample or after GAP_HOLD)
    held_steps: int = 0
    zero_steps: int = 0
    empty_steps: int = 0  # steps in which no guest had a sample at all (the collector was down?)
    skipped_steps: int = 0  # steps asked for before the first sample: the window starts later
    guests_without_samples: int = 0  # in the inventory, no sample in the window: left out
    migrations_walked_back: int = 0
    # successful migrations whose target is not where the guest was then (moved by other means)
    migrations_inconsistent: int = 0
    pinned: frozenset[str] = frozenset()
    not_accepting: frozenset[str] = frozenset()  # hosts disabled, offline or in maintenance now

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_seconds * self.trace.steps)

    def notes(self) -> list[str]:
        """What a reader should know about how the history was rebuilt, one line each."""
        trace = self.trace
        guest_steps = max(1, len(trace.guests) * trace.steps)
        lines = [] if not self.skipped_steps else [
            f"no guest sample before {self.start:%Y-%m-%d %H:%M} UTC: the window starts there,"
            f" {format_period(self.skipped_steps * self.step_seconds)} later than asked"]
        if self.resolution:
            newest = "" if self.resolution == stored_history.RAW else ", the newest minutes from raw samples"
            lines.append(f"guest CPU per {format_period(self.step_seconds)} step from"
                         f" {stored_history.RESOLUTION_NAMES[self.resolution]}{newest}"
                         f" (kept: {stored_history.retentions()})")
        lines += [
            f"{self.held_steps} of {guest_steps} guest-steps ({100 * self.held_steps / guest_steps:.1f} %) had no"
            f" sample and repeat the guest's last value (gaps up to {format_period(GAP_HOLD_SECONDS)});"
            f" {self.zero_steps} ({100 * self.zero_steps / guest_steps:.1f} %) count as 0 % (before the guest's"
            " first sample, or a longer silence)",
        ]
        if self.empty_steps:
            lines.append(f"{self.empty_steps} of {trace.steps} steps have no sample from any guest")
        if self.guests_without_samples:
            lines.append(f"{self.guests_without_samples} guests without samples in the window are left out")
        lines.append(f"start placement: {self.migrations_walked_back} successful migrations since the start walked"
                     " back from where the guests run now")
        if self.migrations_inconsistent:
            lines.append(f"{self.migrations_inconsistent} of those did not end where the guest was next seen"
                         " (moved by other means): placement may differ there")
        if self.pinned:
            lines.append(f"{len(self.pinned)} pinned / never-migrate guests are never moved")
        if self.not_accepting:
            lines.append(f"{len(self.not_accepting)} hosts that do not accept guests now are never targets")
        return lines


def window(since_seconds: int, step_seconds: int, now: datetime | None = None) -> tuple[datetime, int]:
    """(start, steps): whole steps aligned on the epoch, the last one ending at or before now."""
    now = now or timezone.now()
    end = math.floor(now.timestamp() / step_seconds) * step_seconds
    steps = since_seconds // step_seconds
    if steps < MIN_STEPS:
        raise BacktestError(f"a window of {format_period(since_seconds)} is less than {MIN_STEPS} steps of"
                            f" {format_period(step_seconds)}: look further back or use a finer step")
    return datetime.fromtimestamp(end - steps * step_seconds, tz=UTC), steps


def read_history(
    since_seconds: int, step_seconds: int | None = None, now: datetime | None = None, progress: Progress = _quiet,
) -> History:
    """The last ``since_seconds`` of recorded guest CPU and placement, as a trace (see the module doc)."""
    step = step_seconds or choose_step(since_seconds, Guest.objects.count())
    start, steps = window(since_seconds, step, now)
    ours = source_class().reads_our_tables
    if ours:
        step, start, steps = _fit_resolution(since_seconds, step, start, steps, now, step_seconds)
    progress(0.0, f"reading {steps} steps of {format_period(step)} of guest samples")
    if ours:
        slots, resolution = _slots_from_tables(start, step, steps, progress)
    else:
        slots, resolution = _slots_from_source(start, step, steps, progress), ""
    return _history(slots, start, step, steps, resolution)


def _fit_resolution(
    since_seconds: int, step: int, start: datetime, steps: int, now: datetime | None, asked: int | None,
) -> tuple[int, datetime, int]:
    """(step, start, steps): a step at least as coarse as the history kept from the start.

    A finer step than the stored resolution (1-minute steps over 5-minute roll-ups) would leave
    most steps without a row and fill them by the gap rules: the chosen step is raised to the
    finest STEP_CHOICES that fits, an asked-for one (--step) is refused.
    """
    resolution = stored_history.guest_resolution(start)
    finest = stored_history.RESOLUTION_SECONDS[resolution]
    if step >= finest:
        return step, start, steps
    coarser = next(choice for choice in STEP_CHOICES if choice >= finest)
    if asked:
        raise BacktestError(
            f"--step {format_period(step)} is finer than the history kept from {start:%Y-%m-%d %H:%M} UTC"
            f" ({stored_history.RESOLUTION_NAMES[resolution]}; kept: {stored_history.retentions()}):"
            f" use --step {format_period(coarser)} or more, or a shorter --since")
    return coarser, *window(since_seconds, coarser, now)


def _slots_from_tables(start: datetime, step: int, steps: int, progress: Progress) -> tuple[dict[int, array], str]:
    """(guest pk -> {step index: mean CPU}, what the oldest slice was read from), a slice at a time.

    One services.history.guest_step_means (guest_means without datetimes) per READ_SLICE_SECONDS:
    it reads the roll-ups or raw samples kept for the slice (one GROUP BY (guest, step)
    on each). Slices, not one query: a week of a large cluster is millions of roll-up rows, and
    one statement over all of them could outlive PostgreSQL's statement_timeout (30 s by default).
    """
    slice_steps = max(1, READ_SLICE_SECONDS // step)
    slots: dict[int, array] = {}
    resolution = ""
    origin = round(start.timestamp()) // step  # the window's first step, as epoch // step
    for first in range(0, steps, slice_steps):
        count = min(slice_steps, steps - first)
        since = start + timedelta(seconds=first * step)
        read, means = stored_history.guest_step_means(since, since + timedelta(seconds=count * step), step)
        resolution = resolution or read
        for (guest_id, bucket), mean in means.items():
            k = bucket - origin
            if first <= k < first + count:  # guest_means' steps are epoch-aligned, as the window
                _slot_row(slots, guest_id, steps)[k] = mean
        progress(0.3 * (first + count) / steps, f"read {first + count} of {steps} steps of guest samples")
    return slots, resolution


def _slots_from_source(start: datetime, step: int, steps: int, progress: Progress) -> dict[int, array]:
    """An external store has no bucketed guest question: one guest_means (bounded) per step."""
    source = get_source()
    slots: dict[int, array] = {}
    for k in range(steps):
        since = start + timedelta(seconds=k * step)
        try:
            means = source.guest_means(since, since + timedelta(seconds=step))
        except SourceError as exc:
            raise BacktestError(f"{exc}: no history read (stopped at step {k + 1} of {steps})") from None
        for guest_id, mean in means.items():
            _slot_row(slots, guest_id, steps)[k] = mean
        if k % 50 == 0:
            progress(0.3 * k / steps, f"read {k} of {steps} steps from {source.describe()}")
    return slots


def _slot_row(slots: dict[int, array], guest_id: int, steps: int) -> array:
    """A guest's step means, NaN where it has no sample: 8 bytes a step (a dict of floats took ~100)."""
    row = slots.get(guest_id)
    if row is None:
        row = slots[guest_id] = array("d", [math.nan]) * steps
    return row


def _fill(means: array, hold: int, reported: bytearray) -> tuple[tuple[float, ...], int, int]:
    """One guest's per-step CPU with the gaps filled (see the module doc): (values, held, zeros).

    Marks in ``reported`` the steps where it had a sample.
    """
    values: list[float] = []
    held = zeros = 0
    last: float | None = None
    gap = 0
    for k, mean in enumerate(means):
        if mean == mean:  # not NaN: a sample
            last, gap = round(clip(CPU, mean), ROUND_CPU), 0
            values.append(last)
            reported[k] = 1
        elif last is not None and gap < hold:
            gap += 1
            held += 1
            values.append(last)
        else:
            gap += 1
            zeros += 1
            values.append(0.0)
    return tuple(values), held, zeros


def _history(slots: dict[int, array], start: datetime, step: int, steps: int, resolution: str = "") -> History:
    if not slots:
        raise BacktestError(
            f"no guest CPU samples between {start:%Y-%m-%d %H:%M} and now (UTC): nothing to replay"
            " (are guests reporting vm_cpu? see `manage.py metrics probe`)"
        )
    # History younger than the window (a new cluster, samples past their retention): the
    # window starts at the first step with a sample, rather than replaying idle guests before it.
    first = min(next(k for k, mean in enumerate(row) if mean == mean) for row in slots.values())
    asked_steps = steps
    if first:
        start, steps = start + timedelta(seconds=first * step), steps - first
        slots = {guest: row[first:] for guest, row in slots.items()}
    if steps < MIN_STEPS:
        raise BacktestError(f"only {format_period(step * steps)} of guest samples so far (they start at"
                            f" {start:%Y-%m-%d %H:%M} UTC): too little to replay, try again later")
    hosts = list(Host.objects.order_by("name").values_list("pk", "name", "cpu_count", "mem_total", "enabled", "status"))
    host_names = {pk: name for pk, name, *_ in hosts}
    guest_rows = list(
        Guest.objects.filter(pk__in=list(slots)).order_by("name")
        .values_list("pk", "name", "host_id", "vcpu_count", "vmem_size", "labels")
    )
    placement, walked, inconsistent = placement_at(start, {pk: host_id for pk, _, host_id, *_ in guest_rows})
    hold = max(1, GAP_HOLD_SECONDS // step)
    reported = bytearray(steps)
    with_samples = list(slots)
    guests, held, zeros = [], 0, 0
    for pk, name, _, vcpus, vmem, _labels in guest_rows:
        cpu, guest_held, guest_zeros = _fill(slots.pop(pk), hold, reported)  # pop: free each row once used
        held, zeros = held + guest_held, zeros + guest_zeros
        guests.append(GuestTrace(name=name, vcpu_count=vcpus, vmem_size=vmem, cpu=cpu, host=host_names[placement[pk]]))
    trace = Trace(
        path=f"history of the last {format_period(step * steps)}", kind="history", step_seconds=step,
        hosts=tuple(HostSpec(name, cpu_count, mem_total) for _, name, cpu_count, mem_total, _, _ in hosts),
        guests=tuple(guests),
    )
    return History(
        trace=trace, start=start, step_seconds=step, resolution=resolution, held_steps=held, zero_steps=zeros,
        empty_steps=steps - sum(reported), skipped_steps=asked_steps - steps,
        guests_without_samples=Guest.objects.exclude(status=Guest.Status.GONE).exclude(pk__in=with_samples).count(),
        migrations_walked_back=walked, migrations_inconsistent=inconsistent,
        pinned=frozenset(name for _, name, _, _, _, labels in guest_rows if PINNED_LABELS.intersection(labels or [])),
        not_accepting=frozenset(
            name for _, name, _, _, enabled, status in hosts if not Host.would_accept_guests(enabled, status)
        ),
    )


def placement_at(start: datetime, now_placement: dict[int, int]) -> tuple[dict[int, int], int, int]:
    """guest pk -> host pk at ``start``: where it runs now, each later successful migration undone.

    Newest first: a guest moved h1 -> h2 -> h3 since the start walks back h3 -> h2 -> h1.
    Returns (placement, migrations walked back, migrations whose target was not where the
    guest was then, i.e. it was moved by other means too).
    """
    placement = dict(now_placement)
    walked = inconsistent = 0
    moves = (
        Migration.objects.filter(state=Migration.State.SUCCEEDED, finished_at__gt=start, guest_id__in=list(placement))
        .order_by("-finished_at", "-id").values_list("guest_id", "source_id", "target_id")
    )
    for guest_id, source_id, target_id in moves.iterator(chunk_size=5000):
        if placement[guest_id] != target_id:
            inconsistent += 1
        placement[guest_id] = source_id
        walked += 1
    return placement, walked, inconsistent


def trace_json(history: History) -> dict:
    """The trace in simulate's JSON format (automigrate.simulator.traces.read_json reads it back)."""
    trace = history.trace
    return {
        "step_seconds": trace.step_seconds,
        "start": history.start.isoformat(),  # ignored by simulate; says which window this was
        "hosts": [{"name": h.name, "cpu_count": h.cpu_count, "mem_total": h.mem_total} for h in trace.hosts],
        "guests": [
            {"name": g.name, "host": g.host, "vcpu_count": g.vcpu_count, "vmem_size": g.vmem_size, "cpu": list(g.cpu)}
            for g in trace.guests
        ],
    }


# --- the replays ------------------------------------------------------------


@dataclass(frozen=True)
class Backtest:
    rule: str
    condition: str  # rule.describe()
    threshold: float
    period_seconds: int
    history: History
    results: tuple[replayer.ReplayResult, ...]
    seconds: float = 0.0  # wall time of reading and replaying
    notes: tuple[str, ...] = field(default=())

    def times(self) -> list[datetime]:
        step = timedelta(seconds=self.history.step_seconds)
        return [self.history.start + k * step for k in range(self.history.trace.steps)]

    def to_dict(self) -> dict:
        """One JSON object: the window, a row per policy (simulate's fields) and the per-step series."""
        trace = self.history.trace
        return {
            "rule": self.rule,
            "condition": self.condition,
            "threshold": self.threshold,
            "period_seconds": self.period_seconds,
            "start": self.history.start.isoformat(),
            "end": self.history.end.isoformat(),
            "step_seconds": self.history.step_seconds,
            "steps": trace.steps,
            "hosts": len(trace.hosts),
            "guests": len(trace.guests),
            "seconds": round(self.seconds, 2),
            "policies": [{k: v for k, v in r.to_dict().items() if k != "trace"} for r in self.results],
            "hosts_over_threshold": {r.policy: list(r.hosts_over_threshold) for r in self.results},
            "notes": list(self.notes),
        }


def replay_config(policy: str, threshold: float, period_seconds: int, scope: RuleSpec | None = None):
    """The replay settings `simulate` uses (settings.AUTOMIGRATE; seed 0, no random failures; forecasts as live)."""
    conf = settings.AUTOMIGRATE
    return replayer.ReplayConfig(
        policy=policy, threshold=threshold, period_seconds=period_seconds, seed=0,
        tuning=tuning_from_settings(),
        bandwidth_mb_per_s=float(conf.get("SIM_BANDWIDTH_MB_PER_S", 400)),
        max_in_flight=int(conf.get("MAX_IN_FLIGHT", 4)),
        max_in_flight_per_host=int(conf.get("MAX_IN_FLIGHT_PER_HOST", 2)),
        timeout_base_seconds=float(conf.get("MIGRATION_TIMEOUT_BASE_SECONDS", 120)),
        timeout_seconds_per_gib=float(conf.get("MIGRATION_TIMEOUT_SECONDS_PER_GIB", 60)),
        # As the live evaluator decides (AUTOMIGRATE_FORECAST), which is `simulate --forecast`.
        forecast=bool(conf.get("FORECAST", False)),
        forecast_history_windows=int(conf.get("FORECAST_HISTORY_WINDOWS", 6)),
        rule=scope,
    )


def scope_for(rule: MigrationRule, history: History) -> RuleSpec | None:
    """The rule's host and guest lists, minus pinned guests and hosts that take no guests now.

    None when nothing is restricted: the replay is then exactly `simulate` on the exported trace.
    """
    spec = rule_spec(rule)
    hosts = {h.name for h in history.trace.hosts}
    guests = {g.name for g in history.trace.guests}
    targets = (spec.target_hosts & hosts if spec.target_hosts else hosts) - history.not_accepting
    movable = (spec.source_guests & guests if spec.source_guests else guests) - history.pinned
    if not targets:
        raise BacktestError(f"rule {rule.name} has no target host that accepts guests now: nothing could move")
    if not movable:
        raise BacktestError(f"rule {rule.name} may move no guest with samples in the window (pinned or not listed)")
    if not spec.source_hosts and targets == hosts and movable == guests:
        return None
    return RuleSpec(
        name=spec.name, metric=CPU, threshold=float(rule.threshold), source_hosts=spec.source_hosts,
        target_hosts=frozenset() if targets == hosts else frozenset(targets),
        source_guests=frozenset() if movable == guests else frozenset(movable),
    )


def run(
    rule: MigrationRule,
    since_seconds: int = DEFAULT_SINCE_SECONDS,
    policies: Sequence[str] | None = None,
    step_seconds: int | None = None,
    now: datetime | None = None,
    progress: Progress = _quiet,
) -> Backtest:
    """Replay the rule over its cluster's last ``since_seconds`` under each policy (read-only)."""
    started = time.perf_counter()
    check_rule(rule)
    policies = check_policies(policies)
    history = read_history(since_seconds, step_seconds, now, progress)
    scope = scope_for(rule, history)
    results = []
    for i, policy in enumerate(policies):
        progress(0.3 + 0.7 * i / len(policies), f"replaying {policy} ({i + 1} of {len(policies)})")
        config = replay_config(policy, float(rule.threshold), rule.period_seconds, scope)
        results.append(replayer.replay(history.trace, config))
    progress(1.0, "done")
    notes = history.notes()
    if rule.period_seconds < history.step_seconds:
        notes.append(f"the rule's {rule.period_display} window is judged over one {format_period(history.step_seconds)}"
                     " step (the finest this history allows)")
    if scope is not None:
        notes.append("the rule's host and guest lists apply: `simulate` on the exported trace ignores them")
    return Backtest(
        rule=rule.name, condition=rule.describe(), threshold=float(rule.threshold),
        period_seconds=rule.period_seconds, history=history, results=tuple(results),
        seconds=time.perf_counter() - started, notes=tuple(notes),
    )


# --- runs from the dashboard (a Celery task each) -----------------------------


KEEP_RUNS_PER_RULE = 5


class RunRefused(Exception):
    """A run that cannot start now; one line for the page."""


def run_limit_seconds() -> float:
    """How long a run may take before the worker is told to stop (its soft time limit)."""
    return float(settings.AUTOMIGRATE["BACKTEST_TASK_TIME_LIMIT_SECONDS"])


def expire_stale(rule: MigrationRule) -> None:
    """Runs still queued or running past the task's hard limit never will finish: say so."""
    from automigrate.models import BacktestRun

    limit = run_limit_seconds() + float(settings.AUTOMIGRATE["TASK_HARD_LIMIT_GRACE_SECONDS"])
    BacktestRun.objects.filter(
        rule=rule, state__in=BacktestRun.ACTIVE_STATES, requested_at__lt=timezone.now() - timedelta(seconds=limit),
    ).update(state=BacktestRun.State.FAILED, finished_at=timezone.now(),
             message=f"not finished within {limit:.0f} s: is a Celery worker consuming the evaluation queue?")


def latest_run(rule: MigrationRule):
    from automigrate.models import BacktestRun

    expire_stale(rule)
    return BacktestRun.objects.filter(rule=rule).select_related("requested_by").first()


def start_run(rule: MigrationRule, user, since_seconds: int):
    """Record a queued run and send its task once the row is committed; one active run per rule."""
    from django.db import transaction

    from automigrate import tasks
    from automigrate.models import BacktestRun

    check_rule(rule)  # BacktestError: refused before a worker spends anything on it
    expire_stale(rule)
    if BacktestRun.objects.filter(rule=rule, state__in=BacktestRun.ACTIVE_STATES).exists():
        raise RunRefused(f"a backtest of {rule.name} is already running: wait for it to finish")
    run_row = BacktestRun.objects.create(rule=rule, requested_by=user, since_seconds=since_seconds,
                                         message="queued: waiting for a worker")
    # Each result is up to a few hundred KB of series: keep only the latest few per rule.
    old = BacktestRun.objects.filter(rule=rule).order_by("-requested_at", "-id").values_list("pk", flat=True)
    BacktestRun.objects.filter(pk__in=list(old[KEEP_RUNS_PER_RULE:])).delete()
    transaction.on_commit(lambda: tasks.run_backtest.delay(run_row.pk))
    return run_row


def execute_run(run_pk: int) -> str:
    """The task's body: claim the queued run, replay, store the result or the one-line reason it failed."""
    from automigrate.models import BacktestRun

    claimed = BacktestRun.objects.filter(pk=run_pk, state=BacktestRun.State.QUEUED).update(
        state=BacktestRun.State.RUNNING, started_at=timezone.now(), message="starting")
    if not claimed:
        return f"backtest {run_pk}: not queued (done, failed or gone)"
    run_row = BacktestRun.objects.select_related("rule").get(pk=run_pk)

    def progress(fraction: float, message: str) -> None:
        BacktestRun.objects.filter(pk=run_pk).update(progress=round(fraction, 3), message=message[:500])

    try:
        # The window ends when the run was asked for, however long it waited for a worker.
        outcome = run(run_row.rule, run_row.since_seconds, now=run_row.requested_at, progress=progress)
    except BacktestError as exc:
        _finish(run_pk, BacktestRun.State.FAILED, str(exc))
        return f"backtest {run_pk} failed: {exc}"
    except Exception as exc:
        # Anything else (the soft time limit included) must not leave the page waiting forever.
        _finish(run_pk, BacktestRun.State.FAILED, f"{type(exc).__name__}: {exc}"[:500])
        raise
    _finish(run_pk, BacktestRun.State.DONE, f"done in {outcome.seconds:.1f} s", outcome.to_dict())
    return f"backtest {run_pk} done in {outcome.seconds:.1f} s"


def _finish(run_pk: int, state: str, message: str, result: dict | None = None) -> None:
    from automigrate.models import BacktestRun

    BacktestRun.objects.filter(pk=run_pk).update(
        state=state, message=message[:500], result=result, finished_at=timezone.now(),
        progress=1.0 if result is not None else BacktestRun.objects.get(pk=run_pk).progress)
