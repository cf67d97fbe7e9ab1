"""Properties on random clusters with random groups: no plan breaks a must group the start kept; repair is minimal.

The checks recompute violations from the final placement with their own
code (``_broken`` below), not with the engine's Placement.
"""

import os
from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from automigrate.engine import CPU, GuestState, HostState, RuleSpec, Snapshot, Tuning, plan
from automigrate.engine.maintenance import evacuate, repair
from automigrate.engine.model import GROUP_KINDS, PlacementGroup
from automigrate.engine.placement import GroupError, validate_groups

GIB = 1024**3
TUNING = Tuning(max_moves_per_host=6, max_moves_per_run=30)


def _broken(group: PlacementGroup, where: dict[str, str]) -> bool:
    """Does this placement break ``group``? (independent of the engine)"""
    hosts = [where[g] for g in sorted(group.guests) if g in where]
    if group.kind == "anti-affinity":
        return len(hosts) != len(set(hosts))
    if group.kind == "affinity":
        return len(set(hosts)) > 1
    if group.kind == "host-affinity":
        return any(h not in group.hosts for h in hosts)
    return any(h in group.hosts for h in hosts)


def _final(snapshot: Snapshot, moves) -> dict[str, str]:
    where = {g.name: g.host for g in snapshot.guests}
    for move in moves:
        assert where[move.guest] == move.source  # every move starts where the guest is
        where[move.guest] = move.target
    return where


@st.composite
def clusters(draw, repairable: bool = False):
    n_hosts = draw(st.integers(2, 7))
    hosts = []
    for i in range(n_hosts):
        total = draw(st.sampled_from([64, 128, 256])) * GIB
        hosts.append(HostState(
            name=f"h{i}", cpu_count=draw(st.sampled_from([8, 16, 40])), mem_total=total,
            cpu=draw(st.floats(0, 30)) if repairable else draw(st.floats(0, 100)),
            mem_available=(0.9 if repairable else draw(st.floats(0.05, 1))) * total,
            status="online" if repairable else draw(st.sampled_from(["online"] * 5 + ["maintenance"])),
        ))
    names = [h.name for h in hosts]
    guests = []
    for j in range(draw(st.integers(1, 20))):
        guests.append(GuestState(
            name=f"g{j}", host=draw(st.sampled_from(names)),
            vcpu_count=draw(st.sampled_from([1, 2, 4])) if repairable else draw(st.sampled_from([1, 2, 4, 8, 16])),
            vmem_size=draw(st.sampled_from([512, 1024, 4096])) if repairable else draw(st.sampled_from([1024, 8192])),
            cpu=draw(st.floats(0, 20)) if repairable else draw(st.floats(0, 100)),
            labels=frozenset() if repairable else frozenset(draw(st.lists(st.just("pinned"), max_size=1)))
            if draw(st.integers(0, 9)) == 0 else frozenset(),
        ))
    guest_names = [g.name for g in guests]
    groups = []
    free = list(guest_names)
    for k in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(GROUP_KINDS))
        if repairable:
            # One group per guest, and anti-affinity groups no larger than the cluster: always repairable.
            if not free:
                break
            size = draw(st.integers(1, min(len(free), n_hosts if kind == "anti-affinity" else 4)))
            members = free[:size]
            free = free[size:]
        else:
            members = draw(st.lists(st.sampled_from(guest_names), min_size=1, max_size=5, unique=True))
        hosts_of_group = frozenset()
        if kind in ("host-affinity", "host-anti-affinity"):
            hosts_of_group = frozenset(draw(st.lists(st.sampled_from(names), min_size=1, max_size=n_hosts - 1,
                                                     unique=True)))
        strength = "must" if repairable else draw(st.sampled_from(["must", "must", "should"]))
        groups.append(PlacementGroup(f"grp{k}", kind, strength, frozenset(members), hosts_of_group))
    try:
        validate_groups(groups)
    except GroupError:
        assume(False)
    return Snapshot(tuple(hosts), tuple(guests), tuple(groups))


def _kept_musts_hold(snapshot: Snapshot, moves) -> None:
    start = {g.name: g.host for g in snapshot.guests}
    end = _final(snapshot, moves)
    for group in snapshot.groups:
        if group.strength == "must" and not _broken(group, start):
            assert not _broken(group, end), f"{group} broken by {moves}"


def _lower_bound(snapshot: Snapshot) -> int:
    where = {g.name: g.host for g in snapshot.guests}
    need = 0
    for group in snapshot.groups:
        hosts = [where[g] for g in group.guests]
        if group.kind == "anti-affinity":
            need += sum(n - 1 for n in Counter(hosts).values())
        elif group.kind == "affinity":
            need += len(hosts) - max(Counter(hosts).values())
        elif group.kind == "host-affinity":
            need += sum(h not in group.hosts for h in hosts)
        else:
            need += sum(h in group.hosts for h in hosts)
    return need


# PLACEMENT_EXAMPLES=2000 for a longer hunt than the suite's.
SETTINGS = settings(max_examples=int(os.environ.get("PLACEMENT_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])


@SETTINGS
@given(clusters(), st.sampled_from(["automigrate", "classic"]), st.floats(20, 80))
def test_no_rule_plan_breaks_a_must_group_the_start_kept(snapshot, policy, threshold):
    result = plan(snapshot, RuleSpec("r", CPU, threshold), policy=policy, tuning=TUNING)
    _kept_musts_hold(snapshot, result.moves)


@SETTINGS
@given(clusters(), st.data())
def test_no_evacuation_breaks_a_must_group_the_start_kept(snapshot, data):
    host = data.draw(st.sampled_from([h.name for h in snapshot.hosts]))
    result = evacuate(snapshot, host, TUNING)
    _kept_musts_hold(snapshot, result.moves)
    assert all(m.source == host and m.target != host for m in result.moves)
    statuses = {h.name: h.status for h in snapshot.hosts}
    assert all(statuses[m.target] == "online" for m in result.moves)
    # Every guest of the host either moves or is named with a reason.
    on_host = {g.name for g in snapshot.guests if g.host == host}
    named = {m.guest for m in result.moves} | {n for f in result.failures for n in (f.guest or "").split("+")}
    assert on_host <= named


@SETTINGS
@given(clusters())
def test_no_repair_breaks_a_must_group_the_start_kept(snapshot):
    _kept_musts_hold(snapshot, repair(snapshot, TUNING).moves)


@SETTINGS
@given(clusters(repairable=True))
def test_repair_ends_every_violation_with_no_more_moves_than_needed(snapshot):
    # Per-host move caps can make a violation unrepairable in one go; this property is about the plan.
    result = repair(snapshot, Tuning(max_moves_per_host=1000))
    end = _final(snapshot, result.moves)
    assert result.failures == []
    assert not any(_broken(g, end) for g in snapshot.groups)
    assert len(result.moves) == _lower_bound(snapshot)
    if _lower_bound(snapshot) == 0:
        assert result.moves == []
    # Each guest moves at most once.
    assert len({m.guest for m in result.moves}) == len(result.moves)


def test_lower_bound_helper_counts_what_it_should():
    snap = Snapshot(
        (HostState("h0", 8, GIB, 1, GIB), HostState("h1", 8, GIB, 1, GIB)),
        tuple(GuestState(f"g{i}", "h0", 1, 1, 1.0) for i in range(3)),
        (PlacementGroup("a", "anti-affinity", "must", frozenset({"g0", "g1", "g2"})),),
    )
    assert _lower_bound(snap) == 2
    assert _lower_bound(replace(snap, groups=())) == 0
