"""The two worked examples of the reference's user guide (shared/seeds/auto-migration.md)."""

import pytest

from automigrate.engine import plan
from tests.engine.builders import cpu_rule, guest, host, snap


def cpu_test_vm_cluster():
    # test-66 runs cpu-test-vm: 24 vCPUs at 99.47 % on a 40-core host = 59.68 % of it.
    hosts = [
        host("test-66-onecloud02", 66.53),
        host("test-69-onecloud01", 55.313408),
        host("a15", 62.305391),
    ]
    guests = [guest("cpu-test-vm", "test-66-onecloud02", 99.46995000000001, vcpus=24, mem_mb=1024)]
    return snap(hosts, guests), cpu_rule(60, source_hosts={"test-66-onecloud02"})


@pytest.mark.parametrize("policy", ["automigrate", "classic"])
def test_cpu_test_vm_finds_no_target_and_names_both_hosts(policy):
    snapshot, rule = cpu_test_vm_cluster()

    result = plan(snapshot, rule, policy)

    assert result.result == "find_result_fail"
    assert result.moves == []
    assert [f.guest for f in result.failures] == ["cpu-test-vm"]
    assert result.failures[0].notes == (
        "not found target for guest cpu-test-vm: ["
        "host:test-69-onecloud01:current(55.313408) + guest:cpu-test-vm:score(59.681970) >= threshold(60.000000), "
        "host:a15:current(62.305391) + guest:cpu-test-vm:score(59.681970) >= threshold(60.000000)]"
    )
    assert result.triggered == [{"host": "test-66-onecloud02", "value": 66.53, "threshold": 60}]


def aisenzhe_cluster():
    # aisenzhe: 8 vCPUs on the 40-core a15, scoring 10.769393 % of it (usage 53.85 %).
    hosts = [
        host("a15", 62.305391),
        host("test-66-onecloud02", 22.65071999099409 - 10.769393333333335),
        host("test-69-onecloud01", 55.313408),
    ]
    guests = [guest("aisenzhe", "a15", 10.769393333333335 * 40 / 8, vcpus=8, mem_mb=8192)]
    return snap(hosts, guests), cpu_rule(60, source_hosts={"a15"})


@pytest.mark.parametrize("policy", ["automigrate", "classic"])
def test_aisenzhe_moves_to_the_least_loaded_host_and_reports_its_projection(policy):
    snapshot, rule = aisenzhe_cluster()

    result = plan(snapshot, rule, policy)

    assert result.result == "migrating"
    assert len(result.moves) == 1
    move = result.moves[0]
    assert (move.guest, move.source, move.target) == ("aisenzhe", "a15", "test-66-onecloud02")
    assert move.score == pytest.approx(10.769393333)
    assert move.target_after == pytest.approx(22.65071999099409)
    assert move.source_after == pytest.approx(62.305391 - 10.769393333)
    assert result.hosts_after["test-66-onecloud02"] == pytest.approx(22.65071999099409)
    assert result.hosts_after["test-69-onecloud01"] == pytest.approx(55.313408)
    assert "aisenzhe" in move.reason and "test-66-onecloud02" in move.reason
