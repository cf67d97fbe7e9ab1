"""``plan()``: from a snapshot and a rule to a Plan. Decides; never fetches or executes."""

from __future__ import annotations

from automigrate.engine.model import METRICS, GuestState, Plan, RuleSpec, Skip, Snapshot, Tuning
from automigrate.engine.placement import Placement
from automigrate.engine.policies import Policy
from automigrate.engine.projection import HostLoad
from automigrate.engine.registry import get_policy
from automigrate.engine.run import Run
from automigrate.engine.scoring import fires, forecast_fires, forecast_holds, host_value, hotness, planning_cpu
from automigrate.engine.targets import FitChecker, TargetIndex, host_exclusion

# Why a host is not a target, reported once per host. Being a firing host or
# outside the rule's target list is what the user asked for: not reported.
_REPORTED_TARGET_EXCLUSIONS = frozenset({"disabled", "maintenance", "offline", "stale_metrics"})

DEFAULT_TUNING = Tuning()


def plan(snapshot: Snapshot, rule: RuleSpec, policy: str = "automigrate", tuning: Tuning = DEFAULT_TUNING) -> Plan:
    """Decide which guests move where under ``rule``, and explain every decision.

    Raises ValueError for an unknown policy or metric (a programming error:
    user input is validated before it gets here).
    """
    chosen = get_policy(policy)
    if rule.metric not in METRICS:
        raise ValueError(f"unknown metric {rule.metric!r}: use one of {', '.join(METRICS)}")
    metric, threshold = rule.metric, rule.threshold

    loads: dict[str, HostLoad] = {}
    skipped: list[Skip] = []
    for host in snapshot.hosts:
        if host.cpu_count <= 0:
            skipped.append(Skip(reason="invalid_host", host=host.name, detail="cpu_count must be positive"))
        elif host_value(host, metric) is None:
            skipped.append(
                Skip(
                    reason="stale_metrics",
                    host=host.name,
                    detail=f"no fresh {metric} samples: neither source nor target",
                )
            )
        else:
            loads[host.name] = HostLoad(host, planning_cpu(host, metric, threshold, tuning))

    firing_in_order = [
        load
        for load in loads.values()
        if (not rule.source_hosts or load.name in rule.source_hosts)
        and (fires(host_value(load.state, metric), metric, threshold)  # type: ignore[arg-type]
             or (tuning.forecast_fires and forecast_fires(load.state, metric, threshold)))
    ]
    firing_in_order = _not_held_by_forecast(firing_in_order, metric, threshold, tuning, skipped)
    # Hottest first, so the worst host gets first pick of the targets.
    firing = sorted(firing_in_order, key=lambda h: (-hotness(h.value(metric), metric), h.name))  # type: ignore[arg-type]
    result = Plan(
        rule=rule.name,
        policy=policy,
        metric=metric,
        threshold=threshold,
        result="not_triggered",
        triggered=[{"host": h.name, "value": h.value(metric), "threshold": threshold} for h in firing],
    )
    if firing:
        run = _prepare(snapshot, rule, tuning, loads, firing, chosen, skipped)
        chosen.plan(run, firing_in_order)
        result.moves = run.moves
        result.failures = run.failures
        skipped.extend(run.skips)
        result.result = "migrating" if run.moves else "find_result_fail"
    result.skipped = skipped
    result.hosts_after = {name: load.reported(metric) for name, load in loads.items()}  # type: ignore[misc]
    return result


def _not_held_by_forecast(
    firing: list[HostLoad], metric: str, threshold: float, tuning: Tuning, skipped: list[Skip]
) -> list[HostLoad]:
    """The firing hosts whose forecast does not say the next window is under (those get a Skip)."""
    acted = []
    for load in firing:
        held = forecast_holds(load.state, metric, threshold, tuning.forecast_z)
        if held is None:
            acted.append(load)
        else:
            skipped.append(held)
    return acted


def _prepare(
    snapshot: Snapshot,
    rule: RuleSpec,
    tuning: Tuning,
    loads: dict[str, HostLoad],
    firing: list[HostLoad],
    policy: Policy,
    skipped: list[Skip],
) -> Run:
    firing_names = {h.name for h in firing}
    eligible: list[HostLoad] = []
    for name, load in loads.items():
        excluded = host_exclusion(load.state, rule, firing_names)
        if excluded is None:
            eligible.append(load)
        elif excluded[0] in _REPORTED_TARGET_EXCLUSIONS:
            skipped.append(Skip(reason=excluded[0], host=name, detail=excluded[1]))
    guests_by_host: dict[str, list[GuestState]] = {name: [] for name in firing_names}
    seen: set[str] = set()
    # The guests of firing hosts picked out first, in one comprehension: this loop runs over every
    # guest of the cluster (a million at 50,000 hosts), so each step it saves counts.
    for guest in [guest for guest in snapshot.guests if guest.host in guests_by_host]:
        bucket = guests_by_host[guest.host]
        if guest.name in seen:
            # An inventory listing a guest twice must not make it move twice.
            skipped.append(
                Skip(
                    reason="duplicate",
                    guest=guest.name,
                    host=guest.host,
                    detail="listed more than once in the snapshot",
                )
            )
            continue
        seen.add(guest.name)
        bucket.append(guest)
    margin = tuning.target_margin_percent if policy.target_margin else 0.0
    checker = FitChecker(rule.metric, rule.threshold, tuning, target_margin=margin)
    index = TargetIndex(eligible, checker, order=policy.target_order)
    placement = Placement(snapshot.groups, snapshot.guests) if snapshot.groups else None
    return Run(rule, tuning, firing, guests_by_host, index, checker, placement)
