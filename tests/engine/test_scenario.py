"""Scenario files of ``manage.py plan``: what parses, and the one-line errors."""

import json

import pytest

from automigrate.engine import CPU, MEM
from automigrate.engine.scenario import ScenarioError, load_scenario, parse_scenario, parse_scenario_text


def scenario(**changes):
    data = {
        "rule": {"name": "test-cpu", "metric": CPU, "threshold": 60},
        "hosts": [
            {"name": "a15", "cpu_count": 40, "mem_total": 274877906944, CPU: 62.31, MEM: 137438953472},
            {"name": "test-66", "cpu_count": 40, "mem_total": 274877906944, CPU: 11.88, MEM: 137438953472},
        ],
        "guests": [{"name": "aisenzhe", "host": "a15", "vcpu_count": 8, "vmem_size": 8192, CPU: 53.85}],
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return data


def test_a_minimal_scenario_gets_the_documented_defaults():
    snapshot, rule = parse_scenario(scenario())
    assert rule.source_hosts == frozenset() and rule.target_hosts == frozenset()
    a15 = snapshot.hosts[0]
    assert (a15.enabled, a15.status, a15.host_type, a15.cpu_arch) == (True, "online", "kvm", "x86_64")
    g = snapshot.guests[0]
    assert (g.status, g.labels, g.last_migrated_from, g.minutes_since_migration) == ("running", frozenset(), None, None)
    assert g.cpu == 53.85


def test_null_or_missing_metrics_mean_stale():
    snapshot, _ = parse_scenario(scenario(**{"hosts__1__cpu.usage_active": None, "hosts__0__mem.available": ...}))
    assert snapshot.hosts[1].cpu is None
    assert snapshot.hosts[0].mem_available is None


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"hosts__1__cpu_count": 0}, "hosts[1].cpu_count: must be a positive integer"),
        ({"hosts__1__cpu_count": True}, "hosts[1].cpu_count: must be a positive integer"),
        ({"hosts__0__mem_total": "big"}, "hosts[0].mem_total: must be a positive integer"),
        ({"hosts__0__status": "sleeping"}, "hosts[0].status: must be one of online, offline, maintenance"),
        ({"hosts__0__cpu_cont": 4}, "hosts[0].cpu_cont: unknown field (allowed: "),
        ({"hosts__1__name": "a15"}, "hosts[1].name: duplicate host name 'a15'"),
        ({"rule__metric": "cpu"}, "rule.metric: must be one of cpu.usage_active, mem.available"),
        ({"rule__threshold": "60"}, "rule.threshold: must be a number"),
        ({"rule__threshold": 150}, "rule.threshold: must be a percent between 0 and 100"),
        ({"rule__name": ...}, "rule.name: required"),
        ({"rule__source_hosts": "a15"}, "rule.source_hosts: must be a list"),
        ({"guests__0__host": "nowhere"}, "guests[0].host: must name a host of the hosts list (got 'nowhere')"),
        ({"guests__0__labels": [1]}, "guests[0].labels[0]: must be a non-empty string"),
        ({"guests__0__cpu.usage_active": -1}, "guests[0].cpu.usage_active: must be a percent between 0 and 100"),
        ({"hosts": {}}, "hosts: must be a list"),
    ],
)
def test_a_bad_scenario_names_the_field_and_what_is_allowed(changes, message):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario(**changes))
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_invalid_json_reports_the_position():
    with pytest.raises(ScenarioError, match=r"^scenario: invalid JSON at line 1 column 2"):
        parse_scenario_text("{oops}")


def test_a_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "nope.json")


def test_a_scenario_file_round_trips(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario()))
    snapshot, rule = load_scenario(path)
    assert [h.name for h in snapshot.hosts] == ["a15", "test-66"]
    assert rule.threshold == 60.0
