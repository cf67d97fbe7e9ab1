"""Property tests on random clusters: the engine's promises hold whatever the cluster.

The checks recompute everything from the snapshot with their own arithmetic,
never trusting the values the plan reports.
"""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from automigrate.engine import CPU, GuestState, HostState, RuleSpec, Snapshot, Tuning, plan
from automigrate.engine.model import PINNED_LABELS

GIB = 1024**3
TUNING = Tuning(max_moves_per_host=4, max_moves_per_run=12)
EPS = 1e-6


@st.composite
def clusters(draw):
    n_hosts = draw(st.integers(2, 10))
    hosts = []
    for i in range(n_hosts):
        total = draw(st.sampled_from([64, 128, 256])) * GIB
        hosts.append(
            HostState(
                name=f"h{i}",
                cpu_count=draw(st.sampled_from([8, 16, 40, 96])),
                mem_total=total,
                cpu=draw(st.one_of(st.none(), st.floats(0, 100))) if draw(st.booleans()) else draw(st.floats(0, 100)),
                mem_available=draw(st.floats(0, 1)) * total if draw(st.integers(0, 9)) else None,
                enabled=draw(st.integers(0, 9)) > 0,
                status=draw(st.sampled_from(["online"] * 6 + ["offline", "maintenance"])),
                host_type=draw(st.sampled_from(["kvm", "kvm", "kvm", "esxi"])),
                cpu_arch=draw(st.sampled_from(["x86_64", "x86_64", "aarch64"])),
            )
        )
    names = [h.name for h in hosts]
    guests = []
    for j in range(draw(st.integers(0, 40))):
        migrated = draw(st.one_of(st.none(), st.floats(0, 120)))
        guests.append(
            GuestState(
                name=f"g{j}",
                host=draw(st.sampled_from(names)),
                vcpu_count=draw(st.sampled_from([1, 2, 4, 8, 16])),
                vmem_size=draw(st.sampled_from([512, 1024, 4096, 8192, 32768])),
                cpu=draw(st.one_of(st.none(), st.floats(0, 100)))
                if draw(st.integers(0, 9)) == 0
                else draw(st.floats(0, 100)),
                status=draw(st.sampled_from(["running"] * 8 + ["migrating", "stopped"])),
                labels=frozenset(draw(st.lists(st.sampled_from(["pinned", "never-migrate", "db"]), max_size=1))),
                last_migrated_from=draw(st.one_of(st.none(), st.sampled_from(names))) if migrated is not None else None,
                minutes_since_migration=migrated,
            )
        )
    metric = draw(st.sampled_from(["cpu.usage_active", "mem.available"]))
    threshold = draw(st.floats(20, 90)) if metric == CPU else draw(st.integers(4, 64)) * GIB
    subset = st.frozensets(st.sampled_from(names), max_size=3)
    rule = RuleSpec(
        name="r",
        metric=metric,
        threshold=threshold,
        source_hosts=draw(st.one_of(st.just(frozenset()), subset)),
        target_hosts=draw(st.one_of(st.just(frozenset()), subset)),
        source_guests=draw(
            st.one_of(
                st.just(frozenset()),
                st.frozensets(st.sampled_from([g.name for g in guests]), max_size=10)
                if guests
                else st.just(frozenset()),
            )
        ),
    )
    return Snapshot(tuple(hosts), tuple(guests)), rule


def value(h, metric):
    return h.cpu if metric == CPU else h.mem_available


def fires(v, rule):
    return v is not None and (v > rule.threshold if rule.metric == CPU else v < rule.threshold)


def firing_hosts(snapshot, rule):
    return {
        h.name
        for h in snapshot.hosts
        if (not rule.source_hosts or h.name in rule.source_hosts) and fires(value(h, rule.metric), rule)
    }


def final_state(snapshot, moves):
    """Replay the moves on the snapshot with independent arithmetic."""
    hosts = {h.name: h for h in snapshot.hosts}
    guests = {g.name: g for g in snapshot.guests}
    cpu = {h.name: h.cpu for h in snapshot.hosts}
    mem = {h.name: h.mem_available for h in snapshot.hosts}
    for m in moves:
        g = guests[m.guest]
        demand = g.cpu * g.vcpu_count
        for name, sign in ((m.source, -1), (m.target, +1)):
            if cpu[name] is not None:
                cpu[name] += sign * demand / hosts[name].cpu_count
            if mem[name] is not None:
                mem[name] -= sign * g.vmem_size * 1024 * 1024
    return cpu, mem


policies = st.sampled_from(["automigrate", "classic"])
SETTINGS = settings(max_examples=100, deadline=None)


@SETTINGS
@given(clusters(), policies)
def test_no_target_ends_over_any_limit(cluster, policy):
    snapshot, rule = cluster
    result = plan(snapshot, rule, policy, TUNING)
    cpu, mem = final_state(snapshot, result.moves)
    hosts = {h.name: h for h in snapshot.hosts}
    for target in {m.target for m in result.moves}:
        floor = TUNING.mem_floor_fraction * hosts[target].mem_total
        if rule.metric == CPU:
            assert cpu[target] < rule.threshold + EPS
            assert mem[target] > floor - EPS
        else:
            assert mem[target] > rule.threshold - EPS
            assert cpu[target] < TUNING.cpu_ceiling_percent + EPS
    for name, v in result.hosts_after.items():
        expected = cpu[name] if rule.metric == CPU else mem[name]
        assert abs(v - expected) <= EPS * max(1.0, abs(expected))


@SETTINGS
@given(clusters(), policies)
def test_no_move_uses_an_excluded_host_or_guest(cluster, policy):
    snapshot, rule = cluster
    result = plan(snapshot, rule, policy, TUNING)
    hosts = {h.name: h for h in snapshot.hosts}
    guests = {g.name: g for g in snapshot.guests}
    firing = firing_hosts(snapshot, rule)
    for m in result.moves:
        g, src, dst = guests[m.guest], hosts[m.source], hosts[m.target]
        assert g.host == src.name and src.name in firing
        assert not rule.source_guests or g.name in rule.source_guests
        assert g.status == "running" and not (g.labels & PINNED_LABELS)
        assert g.minutes_since_migration is None or g.minutes_since_migration >= TUNING.cooldown_minutes
        assert g.cpu is not None
        assert dst.name not in firing and dst.name != src.name
        assert not rule.target_hosts or dst.name in rule.target_hosts
        assert dst.enabled and dst.status == "online"
        assert dst.cpu is not None and dst.mem_available is not None
        assert (dst.host_type, dst.cpu_arch) == (src.host_type, src.cpu_arch)


@SETTINGS
@given(clusters(), policies)
def test_no_guest_moves_twice_and_caps_hold(cluster, policy):
    snapshot, rule = cluster
    result = plan(snapshot, rule, policy, TUNING)
    names = [m.guest for m in result.moves]
    assert len(names) == len(set(names))
    if policy == "automigrate":
        assert len(result.moves) <= TUNING.max_moves_per_run
        touches = {}
        for m in result.moves:
            for h in (m.source, m.target):
                touches[h] = touches.get(h, 0) + 1
        assert max(touches.values(), default=0) <= TUNING.max_moves_per_host


@SETTINGS
@given(clusters(), policies)
def test_every_firing_host_ends_under_threshold_or_has_a_failure(cluster, policy):
    snapshot, rule = cluster
    result = plan(snapshot, rule, policy, TUNING)
    firing = firing_hosts(snapshot, rule)
    assert {t["host"] for t in result.triggered} == firing
    assert result.result == ("migrating" if result.moves else "find_result_fail" if firing else "not_triggered")
    failed = {f.host for f in result.failures}
    cpu, mem = final_state(snapshot, result.moves)
    for name in firing:
        after = cpu[name] if rule.metric == CPU else mem[name]
        assert not fires(after, rule) or name in failed
    for f in result.failures:
        assert f.notes


@SETTINGS
@given(clusters(), st.randoms(use_true_random=False))
def test_automigrate_is_deterministic_whatever_the_input_order(cluster, rnd: random.Random):
    snapshot, rule = cluster
    first = plan(snapshot, rule, "automigrate", TUNING)
    assert plan(snapshot, rule, "automigrate", TUNING) == first
    hosts, guests = list(snapshot.hosts), list(snapshot.guests)
    rnd.shuffle(hosts)
    rnd.shuffle(guests)
    shuffled = plan(Snapshot(tuple(hosts), tuple(guests)), rule, "automigrate", TUNING)
    assert shuffled.moves == first.moves
    assert sorted(map(repr, shuffled.failures)) == sorted(map(repr, first.failures))
