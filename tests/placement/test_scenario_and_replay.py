"""The scenario's "groups" and --evacuate, and groups in simulate's JSON traces."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from automigrate.engine.scenario import ScenarioError, parse_scenario
from automigrate.simulator.replay import ReplayConfig, replay
from automigrate.simulator.traces import TraceError, read_trace

GIB = 1024**3


def scenario(groups, guests=None):
    return {
        "rule": {"name": "r", "metric": "cpu.usage_active", "threshold": 60},
        "hosts": [{"name": f"h{i}", "cpu_count": 8, "mem_total": 64 * GIB, "cpu.usage_active": cpu,
                   "mem.available": 40 * GIB} for i, cpu in ((1, 90), (2, 10), (3, 10), (4, 30))],
        "guests": guests or [
            {"name": "db-1", "host": "h1", "vcpu_count": 4, "vmem_size": 4096, "cpu.usage_active": 90},
            {"name": "db-2", "host": "h3", "vcpu_count": 1, "vmem_size": 1024, "cpu.usage_active": 10},
            {"name": "web-1", "host": "h1", "vcpu_count": 1, "vmem_size": 1024, "cpu.usage_active": 10},
            {"name": "cache-1", "host": "h1", "vcpu_count": 1, "vmem_size": 1024, "cpu.usage_active": 10},
            {"name": "ora-1", "host": "h2", "vcpu_count": 1, "vmem_size": 1024, "cpu.usage_active": 10},
            {"name": "batch-1", "host": "h1", "vcpu_count": 1, "vmem_size": 1024, "cpu.usage_active": 10},
        ],
        "groups": groups,
    }


ISSUE_GROUPS = [
    {"name": "db", "kind": "anti-affinity", "strength": "must", "guests": ["db-1", "db-2"]},
    {"name": "app", "kind": "affinity", "strength": "must", "guests": ["web-1", "cache-1"]},
    {"name": "lic", "kind": "host-affinity", "strength": "must", "guests": ["ora-1"], "hosts": ["h1", "h2"]},
    {"name": "noisy", "kind": "host-anti-affinity", "strength": "should", "guests": ["batch-1"], "hosts": ["h4"]},
]


def test_the_issues_groups_parse():
    snapshot, _ = parse_scenario(scenario(ISSUE_GROUPS))
    assert [(g.name, g.kind, g.strength) for g in snapshot.groups] == [
        ("db", "anti-affinity", "must"), ("app", "affinity", "must"),
        ("lic", "host-affinity", "must"), ("noisy", "host-anti-affinity", "should"),
    ]


@pytest.mark.parametrize(("change", "says"), [
    ({"kind": "apart"}, "groups[0].kind: must be one of anti-affinity"),
    ({"strength": "always"}, "groups[0].strength: must be one of must, should"),
    ({"guests": ["db-9"]}, "groups[0].guests: unknown guest 'db-9'"),
    ({"kind": "host-affinity", "hosts": ["h9"]}, "groups[0].hosts: unknown host 'h9'"),
    ({"colour": "red"}, "groups[0].colour: unknown field"),
])
def test_bad_groups_are_refused_naming_the_field(change, says):
    groups = [{**ISSUE_GROUPS[0], **change}]
    with pytest.raises(ScenarioError, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(scenario(groups))


def test_contradictory_must_groups_in_a_scenario_are_refused():
    groups = [*ISSUE_GROUPS, {"name": "not-h2", "kind": "host-anti-affinity", "strength": "must",
                              "guests": ["ora-1"], "hosts": ["h1", "h2"]}]
    with pytest.raises(ScenarioError, match="ora-1 must be on h1, h2 and must not be"):
        parse_scenario(scenario(groups))


def test_plan_evacuate_prints_the_evacuation_plan(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario(ISSUE_GROUPS)))
    out = io.StringIO()
    call_command("plan", "--scenario", str(path), "--evacuate", "h1", stdout=out)
    result = json.loads(out.getvalue())
    assert result["policy"] == "evacuate" and result["failures"] == []
    targets = {m["guest"]: m["target"] for m in result["moves"]}
    assert set(targets) == {"db-1", "web-1", "cache-1", "batch-1"}
    assert targets["db-1"] != "h3" and targets["web-1"] == targets["cache-1"]
    assert targets["batch-1"] != "h4"
    with pytest.raises(CommandError, match="--evacuate: unknown host 'h9'"):
        call_command("plan", "--scenario", str(path), "--evacuate", "h9", stdout=io.StringIO())


def trace(tmp_path, groups):
    data = {
        "step_seconds": 60,
        "hosts": [{"name": "a", "cpu_count": 4, "mem_total": 64 * GIB}, {"name": "b", "cpu_count": 4,
                                                                       "mem_total": 64 * GIB}],
        "guests": [
            {"name": "x", "host": "a", "vcpu_count": 2, "vmem_size": 1024, "cpu": [100.0] * 60},
            {"name": "y", "host": "a", "vcpu_count": 2, "vmem_size": 1024, "cpu": [100.0] * 60},
        ],
        "groups": groups,
    }
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(data))
    return path


def test_a_json_trace_with_groups_is_replayed_keeping_them(tmp_path):
    together = [{"name": "pair", "kind": "affinity", "strength": "must", "guests": ["x", "y"]}]
    free = replay(read_trace(trace(tmp_path, [])), ReplayConfig(period_seconds=300))
    bound = replay(read_trace(trace(tmp_path, together)), ReplayConfig(period_seconds=300))
    # Alone, one guest moves and host a is relieved; bound together, neither can (the pair overloads b).
    assert free.migrations == 1 and bound.migrations == 0
    assert bound.overload_host_minutes > free.overload_host_minutes
    assert bound.to_dict()["groups"] == 1 and "groups" not in free.to_dict()


def test_bad_trace_groups_name_the_field(tmp_path):
    with pytest.raises(TraceError, match=r"groups\[0\]\.guests: unknown guest 'z'"):
        read_trace(trace(tmp_path, [{"name": "g", "kind": "affinity", "strength": "must", "guests": ["z"]}]))
