"""Replay a trace in simulated time through the engine, and measure the outcome.

The loop mirrors the live evaluator, with the clock replaced by trace steps:

- the rule is checked every ``period``; hosts and guests are judged on their
  window means over that period (host CPU as it was actually measured, i.e.
  with the placement of the time);
- only one batch is in flight at a time; a batch's migrations start under the
  in-flight caps and the rest wait in the batch for a free slot;
- a migration takes ``lifecycle.migration_seconds`` and can time out or fail;
  the guest changes host when it succeeds;
- after a batch the rule settles for one window (as the evaluator does, for
  the whole rule); guests carry their last source host and minutes since
  migration, so cooldown and no-bounce-back apply as in production.

Timing, caps and settling come from ``automigrate.engine.lifecycle``, the
module the evaluator uses, so the two cannot drift. Pure Python, no Django.
"""

from __future__ import annotations

import heapq
import random
import statistics
from dataclasses import dataclass, field, replace

from automigrate.engine import lifecycle, plan
from automigrate.engine.forecast import forecast
from automigrate.engine.maintenance import repair
from automigrate.engine.model import CPU, GuestState, HostState, Move, RuleSpec, Snapshot, Tuning
from automigrate.engine.placement import must_violations
from automigrate.engine.registry import POLICIES as ENGINE_POLICIES
from automigrate.simulator.traces import Trace

# The replay-only policy that sees the future: automigrate planning on the
# next window's true means instead of the last window's measured ones.
ORACLE = "oracle"
POLICIES = (*ENGINE_POLICIES, ORACLE, "none")
# The definition: returning a guest to a host it left within this long.
PING_PONG_SECONDS = 3600.0
RULE_NAME = "simulate"


@dataclass(frozen=True)
class ReplayConfig:
    policy: str = "automigrate"
    threshold: float = 60.0
    period_seconds: int = 600
    seed: int = 0
    tuning: Tuning = field(default_factory=Tuning)
    bandwidth_mb_per_s: float = 400.0
    max_in_flight: int = 4
    max_in_flight_per_host: int = 2
    failure_probability: float = 0.0
    timeout_base_seconds: float = 120.0
    timeout_seconds_per_gib: float = 60.0
    # Give the engine each host's forecast of the next window (engine/forecast.py), computed
    # from the replay's own history: host CPU per step since the host's last placement change,
    # over as many windows as the live evaluator reads (AUTOMIGRATE["FORECAST_HISTORY_WINDOWS"]).
    forecast: bool = False
    forecast_history_windows: int = 6
    # Guests of hosts over the threshold get theirs too (guest CPU per step, wherever it ran).
    forecast_guests: bool = False
    # The hosts a rule watches and targets and the guests it may move (backtest of a stored rule);
    # its name, metric and threshold are ignored (the replay's own). None: every host and guest.
    rule: RuleSpec | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        if self.max_in_flight < 1 or self.max_in_flight_per_host < 1:
            raise ValueError("in-flight caps must be at least 1")
        if self.bandwidth_mb_per_s <= 0:
            raise ValueError("bandwidth_mb_per_s must be positive")
        if not 0 <= self.failure_probability <= 1:
            raise ValueError("failure_probability must be between 0 and 1")
        if self.forecast_history_windows < 1:
            raise ValueError("forecast_history_windows must be at least 1")


@dataclass(frozen=True)
class ReplayResult:
    """What ``simulate --json`` prints, field for field and in this order."""

    policy: str
    trace: str
    steps: int
    step_seconds: int
    hosts: int
    guests: int
    threshold: float
    overload_host_minutes: float
    peak_host_cpu: float
    migrations: int
    migrated_gib: float
    ping_pongs: int
    find_result_fail: int
    failed_migrations: int
    mean_host_cpu_stddev: float
    # GiB copied in moves off hosts that their own plan leaves above the threshold.
    gib_off_unrelieved: float = 0.0
    # With placement groups only (absent from to_dict without them):
    groups: int = 0
    repaired_at_start: int = 0  # moves that made the initial placement keep the must groups
    must_violations_at_end: int = 0
    # Per step, how many hosts were above the threshold (to_dict(series=True) only: a day is 288 numbers).
    hosts_over_threshold: tuple[int, ...] = field(default=(), repr=False)

    def to_dict(self, series: bool = False) -> dict:
        names = [n for n in self.__dataclass_fields__ if (self.groups or n not in _GROUP_FIELDS)
                 and (series or n != "hosts_over_threshold")]
        return {name: getattr(self, name) for name in names}


_GROUP_FIELDS = ("groups", "repaired_at_start", "must_violations_at_end")


@dataclass
class _Migration:
    guest: int
    source: int
    target: int
    started_at: float
    finishes_at: float
    succeeds: bool


@dataclass
class _Counters:
    migrations: int = 0
    migrated_mb: float = 0.0
    gib_off_unrelieved: float = 0.0
    ping_pongs: int = 0
    failed: int = 0
    find_result_fail: int = 0


def replay(trace: Trace, config: ReplayConfig) -> ReplayResult:
    """Run ``trace`` (with hosts and an initial placement) under ``config``."""
    return _Replay(trace, config).run()


class _Replay:
    def __init__(self, trace: Trace, config: ReplayConfig):
        if not trace.hosts or any(g.host is None for g in trace.guests):
            raise ValueError("trace has no placement: call traces.build_cluster first")
        self.trace = trace
        self.config = config
        self.step = trace.step_seconds
        # A period shorter than a step still needs one sample to judge on.
        self.window_steps = max(1, -(-config.period_seconds // self.step))
        self.history_steps = config.forecast_history_windows * self.window_steps
        self.hosts = trace.hosts
        self.host_index = {h.name: i for i, h in enumerate(self.hosts)}
        self.guests = trace.guests
        self.guest_index = {g.name: i for i, g in enumerate(self.guests)}
        self.placement = [self.host_index[g.host] for g in self.guests]
        # Busy cores per guest per step: summing them per host gives host CPU.
        self.busy_cores = [[c * g.vcpu_count / 100.0 for c in g.cpu] for g in self.guests]
        self.host_cpu: list[list[float]] = []  # [step][host], as measured
        # Per host, the first step measured wholly with its current guests (after its last migration).
        self.settled_from = [0] * len(trace.hosts)
        # Per guest, every (host it left, when): cooldown, bounce-back, ping-pongs.
        self.departures: list[list[tuple[int, float]]] = [[] for _ in self.guests]
        self.in_flight: list[tuple[float, int, _Migration]] = []  # heap by finish time
        self.waiting: list[Move] = []  # planned moves of the batch not started yet
        self.batch_finished_at: float | None = None
        self.settle_check: float | None = None  # lifecycle.settle_check_at of the last batch
        self.counters = _Counters()
        self.rng = random.Random(f"replay-failures:{config.seed}")
        self.rule = RuleSpec(name=RULE_NAME, metric=CPU, threshold=config.threshold)
        if config.rule is not None:
            self.rule = replace(config.rule, name=RULE_NAME, metric=CPU, threshold=config.threshold)
        self._sequence = 0
        self.groups = trace.groups
        self.repaired_at_start = self._repair_start() if self.groups else 0

    def _repair_start(self) -> int:
        """Place the guests as the must groups require before the replay starts (instantly, not counted).

        A trace's initial placement knows nothing of the groups; an operator
        would have placed the guests by them, so the replay starts from there.
        """
        first = self._snapshot_at(0)
        # No per-host move cap: this is the operator's initial placement, not a batch.
        moves = repair(first, replace(self.config.tuning, max_moves_per_host=10**9)).moves
        for move in moves:
            self.placement[self.guest_index[move.guest]] = self.host_index[move.target]
        return len(moves)

    # --- the loop ---------------------------------------------------------

    def run(self) -> ReplayResult:
        next_check = float(self.config.period_seconds)
        for k in range(self.trace.steps):
            now = float(k * self.step)
            # The regular check every period, plus the evaluator's extra check
            # right after a batch has settled (at the first step boundary after it).
            settled = self.settle_check is not None and now >= self.settle_check
            if now >= next_check or settled:
                while next_check <= now:
                    next_check += self.config.period_seconds
                if settled:
                    self.settle_check = None
                self._evaluate(k, now)
            self.host_cpu.append(self._measure_step(k, now))
        return self._result()

    def _measure_step(self, k: int, start: float) -> list[float]:
        """Host CPU over step k, with migrations that finish inside it."""
        busy = [0.0] * len(self.hosts)
        for g, host in enumerate(self.placement):
            busy[host] += self.busy_cores[g][k]
        end = start + self.step
        while self.in_flight and self.in_flight[0][0] <= end:
            finished_at, _, migration = heapq.heappop(self.in_flight)
            if migration.succeeds:
                # The guest ran on the source for part of the step, the target for the rest.
                moved = self.busy_cores[migration.guest][k] * (end - finished_at) / self.step
                busy[migration.source] -= moved
                busy[migration.target] += moved
                self.settled_from[migration.source] = self.settled_from[migration.target] = k + 1
            self._finish(migration, finished_at)
        # A host cannot be busier than all its cores.
        return [min(100.0, 100.0 * b / h.cpu_count) for b, h in zip(busy, self.hosts, strict=True)]

    # --- evaluation -------------------------------------------------------

    def _evaluate(self, k: int, now: float) -> None:
        if self.config.policy == "none":
            return
        if self.in_flight or self.waiting:
            return  # one batch at a time: the rule gives up this round
        if lifecycle.is_settling(self.batch_finished_at, now, self.config.period_seconds):
            return  # as the evaluator: the whole rule waits one window after its batch
        oracle = self.config.policy == ORACLE
        snapshot = self._oracle_snapshot(k, now) if oracle else self._snapshot(k, now)
        policy = "automigrate" if oracle else self.config.policy
        result = plan(snapshot, self.rule, policy=policy, tuning=self.config.tuning)
        # Every move of a batch starts (the batch waits for free slots), so the plan's figure is the copy's.
        self.counters.gib_off_unrelieved += result.efficacy()["gib_off_hosts_left_firing"]
        if result.result == "find_result_fail":
            self.counters.find_result_fail += 1
        if result.moves:
            self.waiting = list(result.moves)
            self._admit(now)

    def _snapshot_at(self, k: int) -> Snapshot:
        """The cluster as step ``k`` alone shows it (the start has no window yet)."""
        allocated_mb = [0] * len(self.hosts)
        busy = [0.0] * len(self.hosts)
        for g, host in enumerate(self.placement):
            allocated_mb[host] += self.guests[g].vmem_size
            busy[host] += self.busy_cores[g][k]
        hosts = tuple(
            HostState(name=h.name, cpu_count=h.cpu_count, mem_total=h.mem_total,
                      cpu=min(100.0, 100.0 * busy[i] / h.cpu_count),
                      mem_available=float(h.mem_total - allocated_mb[i] * 1024**2))
            for i, h in enumerate(self.hosts)
        )
        guests = tuple(
            GuestState(name=spec.name, host=self.hosts[self.placement[g]].name, vcpu_count=spec.vcpu_count,
                       vmem_size=spec.vmem_size, cpu=spec.cpu[k])
            for g, spec in enumerate(self.guests)
        )
        return Snapshot(hosts=hosts, guests=guests, groups=self.groups)

    def _snapshot(self, k: int, now: float) -> Snapshot:
        first = max(0, k - self.window_steps)
        window = self.host_cpu[first:k]
        allocated_mb = [0] * len(self.hosts)
        for g, host in enumerate(self.placement):
            allocated_mb[host] += self.guests[g].vmem_size
        hosts = tuple(
            HostState(
                name=h.name,
                cpu_count=h.cpu_count,
                mem_total=h.mem_total,
                cpu=(mean := sum(sample[i] for sample in window) / len(window)),
                mem_available=float(h.mem_total - allocated_mb[i] * 1024**2),
                forecast=self._host_forecast(i, k, mean) if self.config.forecast else None,
            )
            for i, h in enumerate(self.hosts)
        )
        guests = []
        hot = {h.name for h in hosts if h.cpu is not None and h.cpu > self.config.threshold}
        for g, spec in enumerate(self.guests):
            left = self.departures[g][-1] if self.departures[g] else None
            on = self.hosts[self.placement[g]].name
            guests.append(GuestState(
                name=spec.name,
                host=self.hosts[self.placement[g]].name,
                vcpu_count=spec.vcpu_count,
                vmem_size=spec.vmem_size,
                cpu=sum(spec.cpu[first:k]) / (k - first),
                last_migrated_from=self.hosts[left[0]].name if left else None,
                minutes_since_migration=(now - left[1]) / 60.0 if left else None,
                forecast=self._guest_forecast(spec, k) if self.config.forecast_guests and on in hot else None,
            ))
        return Snapshot(hosts=hosts, guests=tuple(guests), groups=self.groups)

    def _host_forecast(self, i: int, k: int, mean: float):
        """Host ``i``'s forecast from the steps before ``k`` measured with its current guests."""
        first = max(self.settled_from[i], k - self.history_steps)
        recent = [self.host_cpu[j][i] for j in range(first, k)]
        if not recent:
            return None
        return forecast(recent, window_steps=min(self.window_steps, len(recent)), step_seconds=self.step,
                        window_mean=mean)

    def _guest_forecast(self, spec, k: int):
        recent = spec.cpu[max(0, k - self.history_steps):k]
        if not recent:
            return None
        return forecast(recent, window_steps=min(self.window_steps, len(recent)), step_seconds=self.step)

    def _oracle_snapshot(self, k: int, now: float) -> Snapshot:
        """The measured snapshot with every CPU mean replaced by the next window's true one.

        Host CPU is what the current placement will really draw over steps
        k .. k + window (no migration counted), guests their own trace values:
        a policy that knew the future, to show how far the others are from it.
        """
        seen = self._snapshot(k, now)
        steps = range(k, min(self.trace.steps, k + self.window_steps))
        if not steps:
            return seen
        busy = [[0.0] * len(self.hosts) for _ in steps]  # [step][host], busy cores
        for g, host in enumerate(self.placement):
            cores = self.busy_cores[g]
            for n, j in enumerate(steps):
                busy[n][host] += cores[j]
        hosts = tuple(
            replace(state, cpu=sum(min(100.0, 100.0 * b[i] / h.cpu_count) for b in busy) / len(steps))
            for i, (state, h) in enumerate(zip(seen.hosts, self.hosts, strict=True))
        )
        guests = tuple(
            replace(state, cpu=sum(spec.cpu[j] for j in steps) / len(steps))
            for state, spec in zip(seen.guests, self.guests, strict=True)
        )
        return replace(seen, hosts=hosts, guests=guests)

    # --- migrations -------------------------------------------------------

    def _admit(self, now: float) -> None:
        by_host: dict[str, int] = {}
        for _, _, m in self.in_flight:
            for host in (m.source, m.target):
                by_host[self.hosts[host].name] = by_host.get(self.hosts[host].name, 0) + 1
        admitted, self.waiting = lifecycle.admit_within_caps(
            self.waiting, len(self.in_flight), by_host,
            self.config.max_in_flight, self.config.max_in_flight_per_host,
        )
        for move in admitted:
            self._start(move, now)

    def _start(self, move: Move, now: float) -> None:
        g = self.guest_index[move.guest]
        source, target = self.host_index[move.source], self.host_index[move.target]
        if self.placement[g] != source:
            return  # stale plan entry; cannot happen with one batch at a time
        size_mb = self.guests[g].vmem_size
        duration = lifecycle.migration_seconds(size_mb, self.config.bandwidth_mb_per_s)
        timeout = lifecycle.migration_timeout_seconds(
            size_mb, self.config.timeout_base_seconds, self.config.timeout_seconds_per_gib
        )
        fails = self.rng.random() < self.config.failure_probability
        succeeds = not fails and duration <= timeout
        finishes_at = now + min(duration, timeout)
        self.counters.migrations += 1
        self.counters.migrated_mb += size_mb
        if is_ping_pong(self.departures[g], target, now):
            self.counters.ping_pongs += 1
        self._sequence += 1
        migration = _Migration(g, source, target, now, finishes_at, succeeds)
        heapq.heappush(self.in_flight, (finishes_at, self._sequence, migration))

    def _finish(self, migration: _Migration, at: float) -> None:
        if migration.succeeds:
            self.placement[migration.guest] = migration.target
            self.departures[migration.guest].append((migration.source, at))
        else:
            self.counters.failed += 1
        self._admit(at)
        if not self.in_flight and not self.waiting:
            self.batch_finished_at = at  # the rule settles from here
            self.settle_check = lifecycle.settle_check_at(at, self.config.period_seconds)

    # --- metrics ----------------------------------------------------------

    def _result(self) -> ReplayResult:
        threshold = self.config.threshold
        step_minutes = self.step / 60.0
        overload = sum(step_minutes for sample in self.host_cpu for cpu in sample if cpu > threshold)
        peak = max((max(sample) for sample in self.host_cpu), default=0.0)
        spread = [statistics.pstdev(sample) for sample in self.host_cpu] if self.hosts else []
        return ReplayResult(
            policy=self.config.policy,
            trace=self.trace.path,
            steps=self.trace.steps,
            step_seconds=self.step,
            hosts=len(self.hosts),
            guests=len(self.guests),
            threshold=int(threshold) if float(threshold).is_integer() else threshold,
            overload_host_minutes=round(overload, 1),
            peak_host_cpu=round(peak, 1),
            migrations=self.counters.migrations,
            migrated_gib=round(self.counters.migrated_mb / 1024.0, 1),
            ping_pongs=self.counters.ping_pongs,
            find_result_fail=self.counters.find_result_fail,
            failed_migrations=self.counters.failed,
            mean_host_cpu_stddev=round(statistics.fmean(spread), 1) if spread else 0.0,
            gib_off_unrelieved=round(self.counters.gib_off_unrelieved, 1),
            groups=len(self.groups),
            repaired_at_start=self.repaired_at_start,
            must_violations_at_end=len(must_violations(self.groups, self._snapshot_at(0).guests))
            if self.groups else 0,
            hosts_over_threshold=tuple(sum(cpu > threshold for cpu in sample) for sample in self.host_cpu),
        )


def is_ping_pong(departures: list[tuple[int, float]], target: int, now: float) -> bool:
    """True if the guest left ``target`` less than an hour before ``now``."""
    return any(host == target and now - left_at < PING_PONG_SECONDS for host, left_at in departures)
