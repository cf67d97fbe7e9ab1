"""Which hosts may receive a guest, and the limits a move must respect."""

import pytest

from automigrate.engine import Tuning, explain, plan
from automigrate.engine.candidates import Candidate
from automigrate.engine.projection import HostLoad
from automigrate.engine.targets import FitChecker
from tests.engine.builders import GIB, cpu_rule, guest, host, mem_rule, snap

# The excluded host is always the most attractive one; "fallback" is the only valid target.
EXCLUSIONS = [
    ({"enabled": False}, "disabled"),
    ({"status": "offline"}, "offline"),
    ({"status": "maintenance"}, "maintenance"),
    ({"host_type": "esxi"}, None),
    ({"cpu_arch": "aarch64"}, None),
    ({"zone": "az2"}, None),  # another availability zone than the source's ("")
]


@pytest.mark.parametrize("metric", ["cpu", "mem"])
@pytest.mark.parametrize("attrs,reason", EXCLUSIONS)
def test_it_never_targets_an_ineligible_host(metric, attrs, reason):
    hosts = [host("hot", 65.0, mem_gib=2), host("best", 1.0, mem_gib=250, **attrs), host("fallback", 30.0, mem_gib=100)]
    rule = cpu_rule(60) if metric == "cpu" else mem_rule(16)

    result = plan(snap(hosts, [guest("g", "hot")]), rule)

    assert [m.target for m in result.moves] == ["fallback"]
    if reason:
        assert any(s.host == "best" and s.reason == reason for s in result.skipped)


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_it_only_uses_the_rules_target_hosts(metric):
    hosts = [host("hot", 65.0, mem_gib=2), host("best", 1.0, mem_gib=250), host("allowed", 30.0, mem_gib=100)]
    rule = cpu_rule(60, target_hosts={"allowed"}) if metric == "cpu" else mem_rule(16, target_hosts={"allowed"})
    result = plan(snap(hosts, [guest("g", "hot")]), rule)
    assert [m.target for m in result.moves] == ["allowed"]


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_another_firing_host_is_never_a_target(metric):
    # "warm" fires too, so it may not receive, even though it has the most spare on the other metric.
    hosts = [host("hot", 95.0, mem_gib=1), host("warm", 61.0, mem_gib=15), host("ok", 40.0, mem_gib=40)]
    rule = cpu_rule(60) if metric == "cpu" else mem_rule(16)
    result = plan(snap(hosts, [guest("g1", "hot", mem_mb=1024), guest("g2", "warm", mem_mb=1024)]), rule)
    assert {m.target for m in result.moves} <= {"ok"}
    assert result.moves


def test_a_cpu_move_must_stay_strictly_under_the_threshold_on_the_target():
    # 10 % on the target would land exactly on 60: not allowed.
    hosts = [host("hot", 65.0), host("edge", 50.0)]
    result = plan(snap(hosts, [guest("g", "hot", 50.0, vcpus=8)]), cpu_rule(60))
    assert result.moves == []
    assert "host:edge:current(50.000000) + guest:g:score(10.000000) >= threshold(60.000000)" in result.failures[0].notes


def test_a_memory_move_must_keep_the_target_strictly_above_the_threshold():
    hosts = [host("low", mem_gib=4), host("edge", mem_gib=24)]
    result = plan(snap(hosts, [guest("g", "low", mem_mb=8192)]), mem_rule(16))
    assert result.moves == []
    assert (
        f"host:edge:current({24 * GIB:.6f}) - guest:g:score({8 * GIB:.6f}) <= threshold({16 * GIB:.6f})"
        in result.failures[0].notes
    )


def test_a_cpu_move_keeps_the_targets_memory_above_the_floor():
    # "idle" has the CPU but only 20 GiB free of 256: a 16 GiB guest would leave 4 GiB < 25.6 GiB floor.
    hosts = [host("hot", 65.0), host("idle", 1.0, mem_gib=20), host("roomy", 40.0, mem_gib=200)]
    result = plan(snap(hosts, [guest("g", "hot", 100.0, vcpus=4, mem_mb=16384)]), cpu_rule(60))
    assert [m.target for m in result.moves] == ["roomy"]


def test_a_cpu_move_fails_with_a_memory_note_when_no_target_has_memory():
    hosts = [host("hot", 65.0), host("idle", 1.0, mem_gib=20)]
    result = plan(
        snap(hosts, [guest("g", "hot", 100.0, vcpus=4, mem_mb=16384)]),
        cpu_rule(60),
        tuning=Tuning(mem_floor_fraction=0.10),
    )
    assert result.result == "find_result_fail"
    assert "host:idle:mem.available(" in result.failures[0].notes
    assert "<= floor(27487790694.4" in result.failures[0].notes


def test_a_memory_move_keeps_the_targets_cpu_below_the_ceiling():
    # g is 8 vCPUs at 100 % = 20 % of a 40-core host: "roomy-but-busy" at 70 % would reach 90 % > 80 %.
    hosts = [host("low", 10.0, mem_gib=2), host("roomy-but-busy", 70.0, mem_gib=250), host("ok", 20.0, mem_gib=100)]
    result = plan(snap(hosts, [guest("g", "low", 100.0, vcpus=8)]), mem_rule(16))
    assert [m.target for m in result.moves] == ["ok"]
    result = plan(snap(hosts[:2], [guest("g", "low", 100.0, vcpus=8)]), mem_rule(16))
    assert "host:roomy-but-busy:cpu.usage_active(70.000000) + guest:g:cpu(20.000000) >= ceiling(80.000000)" in (
        result.failures[0].notes
    )


def test_a_guest_is_never_sent_back_to_the_host_it_just_left():
    # Candidates in cooldown are already skipped, so check the target rule on its own.
    checker = FitChecker("cpu.usage_active", 60, Tuning(cooldown_minutes=30))
    came_from = HostLoad(host("origin", 10.0))
    g = guest("g", "hot", 50.0, last_migrated_from="origin", minutes_since_migration=12)
    cand = Candidate(guest=g, relief=10.0, demand=400.0, num_bytes=8 * GIB)
    refused = checker.reject(cand, came_from)
    assert (refused.limit, refused.guest, refused.current, refused.limit_value, refused.unit) == (
        "bounce_back", "g", 12, 60.0, "min"
    )
    assert "bounce_back(guest:g left it 12.0 min ago" in explain.rejection_text(refused)
    assert checker.reject(cand, HostLoad(host("elsewhere", 10.0))) is None


def test_failure_notes_list_a_bounded_number_of_targets():
    hosts = [host("hot", 99.0)] + [host(f"t{i:02d}", 55.0 + i * 0.1) for i in range(30)]
    result = plan(snap(hosts, [guest("huge", "hot", 100.0, vcpus=32)]), cpu_rule(60))
    notes = result.failures[0].notes
    assert notes.count("host:t") == 10
    assert notes.startswith("not found target for guest huge: [host:t00:current(55.000000)")
    assert notes.endswith("... and 20 more]")


def test_guests_stay_in_their_zone_and_the_note_names_it():
    hosts = [host("hot", 65.0, zone="az1"), host("best", 1.0, zone="az2"), host("near", 30.0, zone="az1")]
    assert [m.target for m in plan(snap(hosts, [guest("g", "hot")]), cpu_rule(60)).moves] == ["near"]

    alone = [host("hot", 65.0, zone="az1"), host("best", 1.0, zone="az2")]
    result = plan(snap(alone, [guest("g", "hot")]), cpu_rule(60))
    assert not result.moves
    assert "in zone az1" in result.failures[0].notes
