"""When a host fires, what a guest is worth, and what the plan reports for every host."""

import pytest

from automigrate.engine import plan
from tests.engine.builders import GIB, cpu_rule, guest, host, mem_rule, snap


def test_cpu_fires_strictly_above_the_threshold():
    result = plan(snap([host("hot", 60.0), host("idle", 5.0)]), cpu_rule(60))
    assert result.result == "not_triggered"
    result = plan(snap([host("hot", 60.1), host("idle", 5.0)]), cpu_rule(60))
    assert [t["host"] for t in result.triggered] == ["hot"]


def test_memory_fires_strictly_below_the_threshold():
    result = plan(snap([host("low", mem_gib=16), host("roomy", mem_gib=200)]), mem_rule(16))
    assert result.result == "not_triggered"
    result = plan(snap([host("low", mem_gib=15.9), host("roomy", mem_gib=200)]), mem_rule(16))
    assert [t["host"] for t in result.triggered] == ["low"]


@pytest.mark.parametrize(
    "rule,hot", [(cpu_rule(60, source_hosts={"b"}), {"cpu": 90.0}), (mem_rule(16, source_hosts={"b"}), {"mem_gib": 4})]
)
def test_only_watched_hosts_fire(rule, hot):
    result = plan(snap([host("a", **hot), host("b", **hot), host("c")]), rule)
    assert [t["host"] for t in result.triggered] == ["b"]


def test_every_firing_host_is_listed_hottest_first():
    result = plan(snap([host("warm", 70.0), host("hot", 90.0), host("idle", 5.0)]), cpu_rule(60))
    assert [t["host"] for t in result.triggered] == ["hot", "warm"]


def test_a_host_without_fresh_metrics_neither_fires_nor_receives():
    hosts = [host("hot", 65.0), host("stale", None), host("busy", 40.0)]
    guests = [guest("g", "hot", 100.0, vcpus=4)]  # 10 % of a 40-core host

    result = plan(snap(hosts, guests), cpu_rule(60))

    assert [m.target for m in result.moves] == ["busy"]
    assert any(s.host == "stale" and s.reason == "stale_metrics" for s in result.skipped)
    assert "stale" not in result.hosts_after
    assert set(result.hosts_after) == {"hot", "busy"}


def test_a_host_missing_the_other_metric_may_fire_but_is_not_a_target():
    hosts = [host("hot", 65.0, mem_gib=None), host("no-mem", 0.0, mem_gib=None), host("busy", 40.0)]
    guests = [guest("g", "hot", 100.0, vcpus=4)]

    result = plan(snap(hosts, guests), cpu_rule(60))

    assert [t["host"] for t in result.triggered] == ["hot"]
    assert [m.target for m in result.moves] == ["busy"]
    assert any(s.host == "no-mem" and s.reason == "stale_metrics" for s in result.skipped)


def test_cpu_score_uses_each_hosts_own_core_count():
    # 8 vCPUs at 50 % = 400 vCPU-percent: 10 % of the 40-core source, 5 % of the 80-core target.
    hosts = [host("src", 70.0, cpu_count=40), host("big", 20.0, cpu_count=80)]
    result = plan(snap(hosts, [guest("g", "src", 50.0, vcpus=8)]), cpu_rule(60))

    move = result.moves[0]
    assert move.score == pytest.approx(10.0)
    assert move.target_score == pytest.approx(5.0)
    assert move.source_after == pytest.approx(60.0)
    assert move.target_after == pytest.approx(25.0)


def test_memory_score_is_the_guests_size_in_bytes():
    hosts = [host("low", mem_gib=10), host("roomy", mem_gib=200)]
    result = plan(snap(hosts, [guest("g", "low", mem_mb=8192)]), mem_rule(16))

    move = result.moves[0]
    assert move.score == 8 * GIB
    assert move.source_after == 18 * GIB
    assert move.target_after == 192 * GIB
    assert result.hosts_after == {"low": 18 * GIB, "roomy": 192 * GIB}


def test_result_is_migrating_when_something_moves():
    hosts = [host("hot", 70.0), host("idle", 5.0)]
    assert plan(snap(hosts, [guest("g", "hot", 100.0, vcpus=8)]), cpu_rule(60)).result == "migrating"
