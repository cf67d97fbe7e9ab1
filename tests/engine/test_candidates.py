"""Which guests of a firing host may move, for both metrics."""

import pytest

from automigrate.engine import Tuning, plan
from tests.engine.builders import cpu_rule, guest, host, mem_rule, snap

RULES = {
    "cpu": (cpu_rule, {"cpu": 65.0}),  # one 10-point guest brings it under the threshold
    "mem": (mem_rule, {"mem_gib": 2}),
}


def run(metric, guests, tuning=None, **rule_kw):
    make_rule, hot = RULES[metric]
    hosts = [host("hot", **hot), host("idle", 5.0, mem_gib=200)]
    return plan(snap(hosts, guests), make_rule(**rule_kw), tuning=tuning or Tuning())


def skip_reasons(result):
    return {s.guest: s.reason for s in result.skipped if s.guest}


@pytest.mark.parametrize("metric", ["cpu", "mem"])
@pytest.mark.parametrize("label", ["pinned", "never-migrate"])
def test_it_skips_pinned_guests(metric, label):
    result = run(metric, [guest("keep", "hot", labels={label}), guest("go", "hot")])
    assert [m.guest for m in result.moves] == ["go"]
    assert skip_reasons(result) == {"keep": "pinned"}


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_it_skips_guests_already_migrating_and_not_running(metric):
    result = run(metric, [guest("m", "hot", status="migrating"), guest("s", "hot", status="stopped")])
    assert result.moves == []
    assert skip_reasons(result) == {"m": "migrating", "s": "not_running"}
    assert result.result == "find_result_fail"
    assert "no guest may move" in result.failures[0].notes


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_it_skips_guests_in_cooldown_and_lets_them_go_after_it(metric):
    recent = guest("recent", "hot", minutes_since_migration=10)
    assert skip_reasons(run(metric, [recent])) == {"recent": "cooldown"}
    assert [m.guest for m in run(metric, [recent], tuning=Tuning(cooldown_minutes=5)).moves] == ["recent"]


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_it_skips_guests_without_metrics(metric):
    result = run(metric, [guest("blind", "hot", None)])
    assert skip_reasons(result) == {"blind": "no_guest_metrics"}


@pytest.mark.parametrize("metric", ["cpu", "mem"])
def test_it_only_moves_the_rules_source_guests(metric):
    result = run(metric, [guest("a", "hot"), guest("b", "hot")], source_guests={"b"})
    assert [m.guest for m in result.moves] == ["b"]
    assert skip_reasons(result) == {"a": "not_in_source_guests"}


def test_it_skips_cpu_guests_that_would_relieve_nothing():
    result = run("cpu", [guest("idle-vm", "hot", 0.0)])
    assert skip_reasons(result) == {"idle-vm": "zero_score"}


def test_a_guest_listed_twice_moves_at_most_once():
    result = run("mem", [guest("twin", "hot"), guest("twin", "hot")])
    assert [m.guest for m in result.moves] == ["twin"]
    assert skip_reasons(result) == {"twin": "duplicate"}
