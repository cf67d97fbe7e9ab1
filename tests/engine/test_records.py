"""The decision as data: every refused target is a Rejection with its numbers, the note is rendered from it."""

import json

import pytest

from automigrate.engine import Snapshot, Tuning, explain, plan
from automigrate.engine.maintenance import evacuate
from automigrate.engine.model import PlacementGroup, failure_from_dict, rejection_from_dict
from automigrate.engine.targets import MAX_PROBES
from tests.engine.builders import GIB, cpu_rule, guest, host, mem_rule, snap
from tests.engine.test_seed_examples import cpu_test_vm_cluster


def numbers(r):
    return (r.target, r.limit, r.reason, r.guest, r.current, r.score, r.limit_value, r.unit)


@pytest.mark.parametrize("policy", ["automigrate", "classic"])
def test_the_seed_failure_carries_each_targets_numbers_and_renders_the_reference_note(policy):
    snapshot, rule = cpu_test_vm_cluster()
    failure = plan(snapshot, rule, policy).failures[0]

    share = 99.46995000000001 * 24 / 40
    assert [numbers(r) for r in failure.rejections] == [
        ("test-69-onecloud01", "threshold", "over_threshold", "cpu-test-vm", 55.313408, pytest.approx(share), 60, "%"),
        ("a15", "threshold", "over_threshold", "cpu-test-vm", 62.305391, pytest.approx(share), 60, "%"),
    ]
    assert (failure.reason, failure.not_listed, failure.not_tried, failure.scope) == ("no_target", 0, 0, {})
    # The text is the records rendered, character for character (test_seed_examples pins the text itself).
    assert explain.failure_note(failure) == failure.notes


def test_memory_threshold_records_are_in_bytes():
    hosts = [host("low", mem_gib=4), host("edge", mem_gib=24)]
    failure = plan(snap(hosts, [guest("g", "low", mem_mb=8192)]), mem_rule(16)).failures[0]
    assert [numbers(r) for r in failure.rejections] == [
        ("edge", "threshold", "under_threshold", "g", 24 * GIB, 8 * GIB, 16 * GIB, "bytes")
    ]
    assert explain.failure_note(failure) == failure.notes


def test_memory_floor_and_cpu_ceiling_records():
    # CPU rule: "idle" has CPU room but 20 GiB free of 256: 16 GiB more would pass the 10 % floor.
    floor_case = plan(
        snap([host("hot", 99.0), host("idle", 1.0, mem_gib=20)], [guest("g", "hot", 100.0, vcpus=4, mem_mb=16384)]),
        cpu_rule(60),
        tuning=Tuning(mem_floor_fraction=0.10),
    ).failures[0]
    assert [numbers(r) for r in floor_case.rejections] == [
        ("idle", "mem_floor", "under_mem_floor", "g", 20 * GIB, 16 * GIB, pytest.approx(0.1 * 256 * GIB), "bytes")
    ]
    # Memory rule: the roomy target's CPU would pass the 80 % ceiling.
    ceiling_case = plan(
        snap([host("low", 10.0, mem_gib=2), host("busy", 70.0, mem_gib=250)], [guest("g", "low", 100.0, vcpus=8)]),
        mem_rule(16),
    ).failures[0]
    assert [numbers(r) for r in ceiling_case.rejections] == [
        ("busy", "cpu_ceiling", "over_cpu_ceiling", "g", 70.0, 20.0, 80.0, "%")
    ]
    for failure in (floor_case, ceiling_case):
        assert explain.failure_note(failure) == failure.notes


def test_bounce_back_record_names_the_minutes():
    hosts = [host("hot", 90.0), host("origin", 10.0)]
    g = guest("g", "hot", 100.0, vcpus=8, last_migrated_from="origin", minutes_since_migration=45)
    failure = plan(snap(hosts, [g]), cpu_rule(60), tuning=Tuning(cooldown_minutes=30)).failures[0]
    (r,) = failure.rejections
    assert (r.target, r.limit, r.guest, r.current, r.limit_value, r.unit) == (
        "origin", "bounce_back", "g", 45, 60, "min"
    )
    assert "host:origin:bounce_back(guest:g left it 45.0 min ago < no-return window 60.0 min)" in failure.notes
    assert explain.failure_note(failure) == failure.notes


def test_placement_refusal_record_names_the_group():
    snapshot = Snapshot(
        hosts=(host("h1", cpu=90), host("h2", cpu=10)),
        guests=(guest("db-1", "h1", cpu=100, vcpus=16), guest("db-2", "h2", cpu=10, vcpus=2)),
        groups=(PlacementGroup(name="db", kind="anti-affinity", strength="must", guests=frozenset({"db-1", "db-2"})),),
    )
    failure = next(f for f in plan(snapshot, cpu_rule(60)).failures if f.guest == "db-1")
    (r,) = failure.rejections
    assert (r.target, r.limit, r.reason, r.group, r.strength, r.detail) == (
        "h2", "placement", "anti-affinity", "db", "must", "db-2 already on h2"
    )
    assert failure.notes == "not found target for guest db-1: [anti-affinity group db: db-2 already on h2]"


def test_a_long_list_keeps_the_counts_it_does_not_list():
    hosts = [host("hot", 99.0)] + [host(f"t{i:02d}", 55.0 + i * 0.1) for i in range(30)]
    failure = plan(snap(hosts, [guest("huge", "hot", 100.0, vcpus=32)]), cpu_rule(60)).failures[0]
    assert len(failure.rejections) == explain.MAX_NOTE_TARGETS
    assert failure.not_listed == 20 and failure.not_tried == 0
    assert [r.current for r in failure.rejections[:2]] == [55.0, 55.1]
    assert explain.failure_note(failure) == failure.notes


def test_a_search_that_gives_up_counts_the_targets_not_tried():
    # Every target has CPU room but too little memory: each is examined and refused on the floor.
    hosts = [host("hot", 99.0)] + [host(f"t{i:03d}", 1.0, mem_gib=20) for i in range(MAX_PROBES + 5)]
    failure = plan(snap(hosts, [guest("g", "hot", 100.0, vcpus=4, mem_mb=16384)]), cpu_rule(60)).failures[0]
    assert failure.not_tried == 5
    assert len(failure.rejections) + failure.not_listed == MAX_PROBES
    assert failure.notes.endswith(f"... gave up after {MAX_PROBES} targets, 5 not tried]")
    assert explain.failure_note(failure) == failure.notes


def test_no_eligible_target_is_a_reason_with_its_scope():
    alone = [host("hot", 90.0, zone="az1"), host("best", 1.0, zone="az2")]
    failure = plan(snap(alone, [guest("g", "hot")]), cpu_rule(60)).failures[0]
    assert failure.rejections == ()
    assert (failure.reason, failure.scope) == ("no_eligible_target", {"host_type": "kvm", "cpu_arch": "x86_64",
                                                                      "zone": "az1"})
    assert failure.notes.endswith("(no eligible target host with host_type kvm and cpu_arch x86_64 in zone az1 left)")
    assert explain.failure_note(failure) == failure.notes


def test_to_dict_keeps_the_old_keys_and_adds_the_records_which_read_back():
    snapshot, rule = cpu_test_vm_cluster()
    result = plan(snapshot, rule)
    data = json.loads(json.dumps(result.to_dict()))
    (failure,) = data["failures"]
    assert {"host", "guest", "notes"} <= set(failure)
    assert failure["rejections"][0] == {
        "target": "test-69-onecloud01", "limit": "threshold", "reason": "over_threshold", "guest": "cpu-test-vm",
        "current": 55.313408, "score": 59.68197, "limit_value": 60.0, "unit": "%", "group": "", "strength": "",
        "detail": "",
    }
    back = failure_from_dict(failure)
    # Rounded to 6 decimals like the note itself, so the note renders again identically from the JSON.
    assert explain.failure_note(back) == result.failures[0].notes
    assert rejection_from_dict({"target": "h", "limit": "threshold", "current": "55", "extra": 1}).current is None
    assert rejection_from_dict(["not", "a", "record"]) is None


def test_low_relief_and_cooldown_skips_carry_their_numbers():
    hosts = [host("hot", 90.0, cpu_count=8), host("cool", 10.0)]
    guests = [guest("tiny", "hot", 5.0, vcpus=1), guest("recent", "hot", 100.0, minutes_since_migration=3.0)]
    result = plan(snap(hosts, guests), cpu_rule(60), tuning=Tuning(min_relief_percent=2.0, cooldown_minutes=30))
    data = {s.guest: s.data for s in result.skipped if s.guest}
    assert data["tiny"] == {"relief": pytest.approx(5.0 / 8), "floor": 2.0}
    assert data["recent"] == {"minutes_ago": 3.0, "cooldown_minutes": 30}


def test_an_evacuation_failure_keeps_its_prefix_and_its_records():
    hosts = [host("h1", 10.0), host("h2", 79.0)]
    result = evacuate(snap(hosts, [guest("big", "h1", 100.0, vcpus=16)]), "h1")
    (failure,) = result.failures
    assert failure.notes.startswith("big stays on h1: not found target for guest big: [host:h2:current(79.000000)")
    assert [(r.target, r.limit, r.limit_value) for r in failure.rejections] == [("h2", "threshold", 80.0)]


def test_the_text_table_is_rendered_from_the_records():
    snapshot, rule = cpu_test_vm_cluster()
    lines = explain.plan_lines(plan(snapshot, rule))
    assert "no target for cpu-test-vm on test-66-onecloud02:" in lines
    table = lines[lines.index("no target for cpu-test-vm on test-66-onecloud02:") + 1:]
    assert table[0].split() == ["target", "tried", "current", "+", "guest", "limit", "limit", "value"]
    assert table[1].split() == ["test-69-onecloud01", "55.31%", "59.68%", "rule", "threshold", "≥", "60.00%"]
    assert table[2].split() == ["a15", "62.31%", "59.68%", "rule", "threshold", "≥", "60.00%"]
