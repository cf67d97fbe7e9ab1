"""Placement groups in the engine: refusals named, affinity units, should broken only when needed."""

import pytest

from automigrate.engine import Snapshot, plan
from automigrate.engine.maintenance import evacuate, repair
from automigrate.engine.model import PlacementGroup
from automigrate.engine.placement import GroupError, must_violations, validate_groups
from tests.engine.builders import cpu_rule, guest, host


def group(name, kind, strength="must", guests=(), hosts=()):
    return PlacementGroup(name=name, kind=kind, strength=strength, guests=frozenset(guests), hosts=frozenset(hosts))


def where(result, name):
    return {m.guest: m.target for m in result.moves}.get(name)


def test_anti_affinity_refuses_the_host_of_a_member_and_the_note_names_the_group():
    # h3 has the most headroom, but db-2 is on it; h2 is too busy for db-1. Nothing fits.
    snap = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=58), host("h3", cpu=10)),
        guests=(guest("db-1", "h1", cpu=100, vcpus=16), guest("db-2", "h3", cpu=10, vcpus=2)),
        groups=(group("db", "anti-affinity", guests=["db-1", "db-2"]),),
    )
    result = plan(snap, cpu_rule(60))
    assert result.moves == []
    note = next(f.notes for f in result.failures if f.guest == "db-1")
    assert "anti-affinity group db: db-2 already on h3" in note
    # Without the group the same guest goes to h3.
    free = plan(Snapshot(snap.hosts, snap.guests), cpu_rule(60))
    assert where(free, "db-1") == "h3"


def test_affinity_unit_moves_together_to_one_target():
    snap = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=10), host("h3", cpu=20)),
        guests=(guest("web-1", "h1", cpu=100, vcpus=8), guest("cache-1", "h1", cpu=100, vcpus=4),
                guest("other", "h1", cpu=10, vcpus=1)),
        groups=(group("app", "affinity", guests=["web-1", "cache-1"]),),
    )
    result = plan(snap, cpu_rule(60))
    targets = {m.guest: m.target for m in result.moves}
    assert targets["web-1"] == targets["cache-1"]
    assert "as one affinity unit" in next(m.reason for m in result.moves if m.guest == "cache-1")
    assert must_violations(snap.groups, _after(snap, result)) == []


def test_affinity_unit_with_a_pinned_member_does_not_move_at_all():
    snap = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=10)),
        guests=(guest("web-1", "h1", cpu=100, vcpus=16), guest("cache-1", "h1", cpu=5, vcpus=1, labels={"pinned"})),
        groups=(group("app", "affinity", guests=["web-1", "cache-1"]),),
    )
    result = plan(snap, cpu_rule(60))
    assert result.moves == []
    skip = next(s for s in result.skipped if s.guest == "web-1")
    assert skip.reason == "affinity_unit" and "cache-1" in skip.detail


def test_affinity_unit_too_big_for_any_target_stays_whole():
    # Each guest alone fits h2, both together do not: neither moves.
    snap = Snapshot(
        hosts=(host("h1", cpu=95), host("h2", cpu=40)),
        guests=(guest("a", "h1", cpu=100, vcpus=4), guest("b", "h1", cpu=100, vcpus=4)),
        groups=(group("pair", "affinity", guests=["a", "b"]),),
    )
    result = plan(snap, cpu_rule(60))
    assert result.moves == []
    assert any("a+b" in f.notes for f in result.failures)


def test_should_group_breaks_only_when_the_host_stays_unrelieved_and_says_so():
    hosts = (host("h1", cpu=90), host("h2", cpu=10))
    guests = (guest("batch-1", "h1", cpu=100, vcpus=16),)
    should = group("noisy", "host-anti-affinity", "should", ["batch-1"], ["h2"])
    result = plan(Snapshot(hosts, guests, (should,)), cpu_rule(60))
    move = result.moves[0]
    assert move.target == "h2"
    assert "breaks host-anti-affinity group noisy (should)" in move.reason
    assert "keeping it would leave h1 unrelieved" in move.reason
    assert any(s.reason == "should_broken" for s in result.skipped)
    # With another host that keeps it, the should group holds and nothing says "breaks".
    kept = plan(Snapshot((*hosts, host("h3", cpu=12)), guests, (should,)), cpu_rule(60))
    assert kept.moves[0].target == "h3"
    assert "breaks" not in kept.moves[0].reason


def test_must_host_affinity_is_never_broken_even_if_the_host_stays_hot():
    snap = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=10)),
        guests=(guest("ora-1", "h1", cpu=100, vcpus=16),),
        groups=(group("lic", "host-affinity", guests=["ora-1"], hosts=["h1", "h3"]),),
    )
    for policy in ("automigrate", "classic"):
        result = plan(snap, cpu_rule(60), policy=policy)
        assert result.moves == []
        assert "host-affinity group lic: ora-1 only on h1, h3" in result.failures[0].notes


def test_evacuation_names_pinned_guests_and_never_targets_maintenance_hosts():
    snap = Snapshot(
        hosts=(host("h1", cpu=50), host("h2", cpu=10), host("h3", cpu=5, status="maintenance")),
        guests=(guest("a", "h1", cpu=10, vcpus=2), guest("b", "h1", cpu=10, vcpus=2, labels={"never-migrate"}),
                guest("c", "h1", cpu=10, vcpus=2, status="stopped")),
    )
    result = evacuate(snap, "h1")
    assert [(m.guest, m.target) for m in result.moves] == [("a", "h2")]
    notes = {f.guest: f.notes for f in result.failures}
    assert "labelled never-migrate" in notes["b"] and "blocks emptying" in notes["b"]
    assert "status is stopped" in notes["c"]


def test_evacuation_keeps_groups_and_moves_small_copies_first():
    snap = Snapshot(
        hosts=(host("h1", cpu=50), host("h2", cpu=10), host("h3", cpu=10)),
        guests=(guest("db-1", "h1", cpu=10, mem_mb=16384), guest("db-2", "h2", cpu=10),
                guest("small", "h1", cpu=10, mem_mb=1024)),
        groups=(group("db", "anti-affinity", guests=["db-1", "db-2"]),),
    )
    result = evacuate(snap, "h1")
    assert where(result, "db-1") == "h3"
    assert [m.guest for m in result.moves] == ["small", "db-1"]


def test_repair_moves_the_fewest_guests_and_nothing_when_nothing_is_violated():
    hosts = tuple(host(f"h{i}", cpu=10) for i in range(1, 5))
    guests = (guest("db-1", "h1"), guest("db-2", "h1"), guest("db-3", "h1"),
              guest("ora-1", "h4"), guest("web-1", "h2"), guest("cache-1", "h3"), guest("cache-2", "h3"))
    groups = (
        group("db", "anti-affinity", guests=["db-1", "db-2", "db-3"]),
        group("lic", "host-affinity", guests=["ora-1"], hosts=["h1", "h2"]),
        group("app", "affinity", guests=["web-1", "cache-1", "cache-2"]),
    )
    snap = Snapshot(hosts, guests, groups)
    result = repair(snap)
    # 2 db guests leave h1, ora-1 moves, web-1 joins the caches on h3: 4 moves.
    assert len(result.moves) == 4
    assert where(result, "web-1") == "h3"
    assert must_violations(groups, _after(snap, result)) == []
    calm = repair(Snapshot(hosts, _after(snap, result), groups))
    assert calm.moves == [] and calm.violations == []


def test_contradictory_must_groups_are_refused():
    with pytest.raises(GroupError, match="ora-1"):
        validate_groups([group("lic", "host-affinity", guests=["ora-1"], hosts=["h1"]),
                         group("no", "host-anti-affinity", guests=["ora-1"], hosts=["h1"])])
    with pytest.raises(GroupError, match="must share a host and must not"):
        validate_groups([group("app", "affinity", guests=["a", "b"]),
                         group("apart", "anti-affinity", guests=["a", "b"])])
    # Should groups never contradict: they give way.
    validate_groups([group("lic", "host-affinity", guests=["x"], hosts=["h1"]),
                     group("no", "host-anti-affinity", "should", guests=["x"], hosts=["h1"])])


def test_guest_labels_place_guests_in_groups():
    snap = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=58), host("h3", cpu=10)),
        guests=(guest("db-1", "h1", cpu=100, vcpus=16, labels={"group:db"}),
                guest("db-2", "h3", cpu=10, vcpus=2, labels={"group:db"})),
        groups=(group("db", "anti-affinity"),),
    )
    result = plan(snap, cpu_rule(60))
    assert result.moves == []
    assert "anti-affinity group db: db-2 already on h3" in result.failures[0].notes


def _after(snap, result):
    moved = {m.guest: m.target for m in result.moves}
    return tuple(g.__class__(**{**g.__dict__, "host": moved.get(g.name, g.host)}) for g in snap.guests)
