"""Plans that are not a rule's: emptying a host for maintenance, and repairing group violations.

Both judge targets the way rules do (same eligibility, same limits on both
resources, same placement groups) but have no threshold to relieve: a target
must stay under the CPU ceiling and above the memory floor of ``Tuning``.
Every guest that cannot go is named with the reason, in ``failures``.
"""

from __future__ import annotations

from automigrate.engine import explain
from automigrate.engine.candidates import Candidate, group_units, unit_of
from automigrate.engine.model import (
    CPU,
    PINNED_LABELS,
    Failure,
    GuestState,
    Plan,
    Rejection,
    RuleSpec,
    Snapshot,
    Tuning,
)
from automigrate.engine.placement import MUST, MUST_AND_SHOULD, Placement, Violation
from automigrate.engine.projection import HostLoad
from automigrate.engine.run import Run, placement_rejection
from automigrate.engine.scoring import cpu_demand, cpu_share, guest_bytes
from automigrate.engine.targets import FitChecker, Search, TargetIndex, host_exclusion

DEFAULT_TUNING = Tuning()
EVACUATE = "evacuate"
REPAIR = "repair"
WHY_TARGET = "target with the most CPU headroom under the ceiling that stays within every limit"


class UnknownHost(ValueError):
    """The host to evacuate is not in the snapshot."""


def _run(snapshot: Snapshot, name: str, tuning: Tuning, exclude: set[str]) -> tuple[Run, dict[str, HostLoad]]:
    ceiling = tuning.cpu_ceiling_percent
    rule = RuleSpec(name=name, metric=CPU, threshold=ceiling)
    loads = {h.name: HostLoad(h) for h in snapshot.hosts if h.cpu_count > 0}
    eligible = [load for load in loads.values() if host_exclusion(load.state, rule, exclude) is None]
    # No bounce-back test: emptying a host or ending a violation outranks ping-pong avoidance.
    checker = FitChecker(CPU, ceiling, tuning, bounce_back=False)
    index = TargetIndex(eligible, checker, order="headroom")
    placement = Placement(snapshot.groups, snapshot.guests) if snapshot.groups else None
    return Run(rule, tuning, [], {}, index, checker, placement), loads


def _candidate(guest: GuestState, source: HostLoad) -> Candidate:
    demand = cpu_demand(guest)
    return Candidate(guest=guest, relief=cpu_share(demand, source.cpu_count), demand=demand,
                     num_bytes=guest_bytes(guest))


def _blocker(guest: GuestState) -> str | None:
    """Why a guest can never be moved by evacuation or repair (cooldown and metrics aside)."""
    if guest.status == "migrating":
        return "already migrating"
    if guest.status != "running":
        return f"status is {guest.status}: live migration needs a running guest"
    pinned = sorted(PINNED_LABELS & guest.labels)
    if pinned:
        return f"labelled {', '.join(pinned)}"
    return None


def _place(run: Run, source: HostLoad, cand: Candidate, lead: str, needed: str) -> Search | None:
    """Move ``cand`` to the best target its groups allow (a should group only if need be); the search if none."""
    search = run.find(cand, source, MUST_AND_SHOULD)
    why = WHY_TARGET
    if search.target is None and run.has_should(cand):
        retry = run.find(cand, source, MUST)
        if retry.target is not None:
            why += run.broken_should(cand, source, retry.target, needed)
        search = retry
    if search.target is None:
        return search
    run.apply(source, cand, search.target, why, lead=lead)
    return None


def evacuate(snapshot: Snapshot, host: str, tuning: Tuning = DEFAULT_TUNING) -> Plan:
    """Moves for every guest of ``host``, biggest first so big guests find room, executed smallest first.

    Placing big guests first packs best (small ones fit in the gaps left);
    executing small copies first gets the most guests off quickly and lets a
    big copy that fails hold nobody up. Pinned and non-running guests block
    "empty" and are named, as is every guest no target can take.
    """
    states = {h.name: h for h in snapshot.hosts}
    if host not in states:
        raise UnknownHost(f"evacuate: unknown host {host!r}")
    run, loads = _run(snapshot, f"maintenance:{host}", tuning, {host})
    source = loads.get(host) or HostLoad(states[host])
    plan = Plan(rule=run.rule.name, policy=EVACUATE, metric=CPU, threshold=run.threshold, result="not_triggered",
                triggered=[{"host": host, "value": source.cpu, "threshold": run.threshold}])
    guests = [g for g in snapshot.guests if g.host == host]
    candidates: list[Candidate] = []
    for guest in guests:
        blocked = _blocker(guest)
        if blocked:
            plan.failures.append(Failure(host=host, guest=guest.name,
                                         notes=f"{guest.name} stays on {host}: {blocked}; it blocks emptying the host"))
        else:
            candidates.append(_candidate(guest, source))
    units, held = group_units(candidates, host, run.placement)
    for skip in held:
        plan.failures.append(Failure(host=host, guest=skip.guest, notes=f"{skip.guest} stays on {host}: {skip.detail}"))
    lead = f"{host} enters maintenance: every guest leaves"
    for cand in sorted(units, key=lambda c: (-c.num_bytes, c.name)):
        failed = _place(run, source, cand, lead, f"keeping it would leave {host} not empty")
        if failed:
            plan.failures.append(failed.failure(host, cand.name, prefix=f"{cand.name} stays on {host}: "))
    plan.moves = sorted(run.moves, key=lambda m: (_bytes(snapshot, m.guest), m.guest))
    plan.skipped = run.skips
    plan.result = "migrating" if plan.moves else ("find_result_fail" if plan.failures else "not_triggered")
    plan.hosts_after = {name: load.cpu for name, load in loads.items()}  # type: ignore[misc]
    return plan


def _bytes(snapshot: Snapshot, name: str) -> int:
    for guest in snapshot.guests:
        if guest.name == name:
            return guest_bytes(guest)
    return 0


def repair(snapshot: Snapshot, tuning: Tuning = DEFAULT_TUNING) -> Plan:
    """The fewest moves that end every ``must`` violation without creating another.

    One move per guest on a host its host group forbids; per anti-affinity
    host, all members but one (members that must move anyway count as
    moved; one that cannot move is the one kept); per split affinity group, the
    members not on the host holding most of them, moved there as one unit.
    Each of these is the least that ends that violation, and every target
    is checked against all groups so no move creates a new one.
    """
    run, loads = _run(snapshot, "repair", tuning, set())
    plan = Plan(rule="repair", policy=REPAIR, metric=CPU, threshold=run.threshold, result="not_triggered")
    placement = run.placement
    if placement is None:
        return plan
    violations = [v for v in placement.violations() if v.strength == "must"]
    plan.violations = [v.to_dict() for v in violations]
    if not violations:
        return plan
    by_name = {g.name: g for g in snapshot.guests}
    for violation in (v for v in violations if v.kind == "affinity"):
        _repair_affinity(run, loads, by_name, violation, plan)
    forced = [g for v in violations if v.kind in ("host-affinity", "host-anti-affinity") for g in v.guests]
    movers = list(dict.fromkeys(forced + _anti_movers(violations, set(forced), by_name)))
    for name in movers:
        guest = by_name[name]
        current = placement.where.get(name, guest.host)
        if _fixed(placement, name):
            continue  # an earlier move (its unit's) already ended it
        source = loads.get(current)
        why = _why_broken(name, violations)
        blocked = _blocker(guest)
        if source is None or blocked:
            plan.failures.append(Failure(host=current, guest=name,
                                         notes=f"cannot repair {why}: {name} {blocked or 'is on an unknown host'}"))
            continue
        cand, stuck = _unit(placement, by_name, name, current, source)
        if stuck:
            plan.failures.append(Failure(host=current, guest=name, notes=f"cannot repair {why}: {stuck}"))
            continue
        failed = _place(run, source, cand, f"repair: {why}", "no target keeps it")
        if failed:
            plan.failures.append(failed.failure(current, name, prefix=f"cannot repair {why}: "))
    plan.moves = run.moves
    plan.skipped = run.skips
    plan.result = "migrating" if plan.moves else "find_result_fail"
    plan.hosts_after = {name: load.cpu for name, load in loads.items()}  # type: ignore[misc]
    return plan


def _anti_movers(violations: list[Violation], forced: set[str], by_name: dict[str, GuestState]) -> list[str]:
    """Per crowded host, the members to move: all but one, keeping one that cannot move (or the biggest)."""
    movers: list[str] = []
    for v in violations:
        if v.kind != "anti-affinity":
            continue
        staying = [g for g in v.guests if g not in forced]
        if not staying:
            continue
        keep = min(staying, key=lambda g: (_blocker(by_name[g]) is None, -guest_bytes(by_name[g]), g))
        movers += sorted((g for g in staying if g != keep), key=lambda g: (guest_bytes(by_name[g]), g))
    return movers


def _fixed(placement: Placement, name: str) -> bool:
    return not any(name in v.guests and v.strength == "must" for v in placement.violations())


def _why_broken(name: str, violations: list[Violation]) -> str:
    return "; ".join(v.text for v in violations if name in v.guests) or name


def _unit(
    placement: Placement, by_name: dict[str, GuestState], name: str, host: str, source: HostLoad
) -> tuple[Candidate, str]:
    names = [name, *placement.unit_mates(name, host)]
    for mate in names:
        blocked = _blocker(by_name[mate])
        if blocked:
            return _candidate(by_name[name], source), f"{mate} (must move with {name}) {blocked}"
    return unit_of([_candidate(by_name[n], source) for n in names]), ""


def _repair_affinity(
    run: Run, loads: dict[str, HostLoad], by_name: dict[str, GuestState], violation: Violation, plan: Plan
) -> None:
    """Bring a split affinity group onto one host: the one already holding most members that can take the rest."""
    placement = run.placement
    assert placement is not None
    where = {g: placement.where[g] for g in violation.guests}
    if len(set(where.values())) < 2:
        return  # an earlier move (of an overlapping group) already brought them together
    counts: dict[str, int] = {}
    for host in where.values():
        counts[host] = counts.get(host, 0) + 1
    stuck_on = {where[g] for g in violation.guests if _blocker(by_name[g])}
    anchors = sorted(counts, key=lambda h: (h not in stuck_on, -counts[h], h))
    if len(stuck_on) > 1:
        plan.failures.append(Failure(host=",".join(sorted(stuck_on)), guest=None,
                                     notes=f"cannot repair {violation.text}: members that cannot move are on"
                                           f" {', '.join(sorted(stuck_on))}"))
        return
    notes: list[Rejection | str] = []
    for anchor in anchors:
        target = loads.get(anchor)
        if target is None or anchor not in run.index:
            notes.append(f"host:{anchor}:not a target")
            continue
        moving = sorted(g for g in violation.guests if where[g] != anchor)
        if any(_blocker(by_name[g]) for g in moving):
            continue
        refused = placement_rejection(placement, moving, "+".join(moving), anchor, MUST)
        if refused:
            notes.append(refused)
            continue
        # One move per source host's share of the unit, all onto the anchor.
        by_source: dict[str, list[str]] = {}
        for g in moving:
            by_source.setdefault(where[g], []).append(g)
        parts = {src: unit_of([_candidate(by_name[g], loads[src]) for g in names])
                 for src, names in by_source.items() if src in loads}
        whole = unit_of([p for unit in parts.values() for p in unit.members])
        why = run.checker.reject(whole, target)
        if why:
            notes.append(why)
            continue
        for src, unit in sorted(parts.items()):
            run.apply(loads[src], unit, target, f"joins the rest of affinity group {violation.group} on {anchor}",
                      lead=f"repair: {violation.text}")
        return
    texts = [n if isinstance(n, str) else explain.rejection_text(n) for n in notes]
    plan.failures.append(Failure(host=",".join(violation.hosts), guest=None,
                                 notes=f"cannot repair {violation.text}: [{', '.join(texts)}]",
                                 rejections=tuple(n for n in notes if not isinstance(n, str)),
                                 reason="no_target"))

