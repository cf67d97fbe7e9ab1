"""``manage.py plan`` end to end, as a user runs it (a subprocess, no database)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = {
    "rule": {"name": "test-cpu", "metric": "cpu.usage_active", "threshold": 60, "source_hosts": ["a15"]},
    "hosts": [
        {
            "name": "a15",
            "cpu_count": 40,
            "mem_total": 274877906944,
            "cpu.usage_active": 62.305391,
            "mem.available": 137438953472,
        },
        {
            "name": "test-66-onecloud02",
            "cpu_count": 40,
            "mem_total": 274877906944,
            "cpu.usage_active": 11.881326657,
            "mem.available": 137438953472,
        },
        {
            "name": "test-69-onecloud01",
            "cpu_count": 40,
            "mem_total": 274877906944,
            "cpu.usage_active": 55.313408,
            "mem.available": 137438953472,
        },
    ],
    "guests": [
        {"name": "aisenzhe", "host": "a15", "vcpu_count": 8, "vmem_size": 8192, "cpu.usage_active": 53.84696666666667}
    ],
}


def run_plan(tmp_path, scenario, *extra):
    path = tmp_path / "scenario.json"
    path.write_text(scenario if isinstance(scenario, str) else json.dumps(scenario))
    return subprocess.run(
        [sys.executable, "manage.py", "plan", "--scenario", str(path), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("policy", ["automigrate", "classic"])
def test_plan_prints_the_plan_as_json(tmp_path, policy):
    done = run_plan(tmp_path, SCENARIO, "--policy", policy)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["policy"] == policy
    assert result["result"] == "migrating"
    assert [(m["guest"], m["target"]) for m in result["moves"]] == [("aisenzhe", "test-66-onecloud02")]
    assert result["hosts_after"]["test-66-onecloud02"] == pytest.approx(22.650719990)


def test_a_bad_scenario_exits_2_with_one_line(tmp_path):
    bad = json.loads(json.dumps(SCENARIO))
    bad["hosts"][2]["cpu_count"] = -4

    done = run_plan(tmp_path, bad)

    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("hosts[2].cpu_count: must be a positive integer")


def test_invalid_json_exits_2(tmp_path):
    done = run_plan(tmp_path, "{not json")
    assert done.returncode == 2
    assert "invalid JSON at line 1" in done.stderr


@pytest.mark.parametrize("policy", ["mmt", "sandpiper"])
def test_plan_runs_the_published_baselines(tmp_path, policy):
    done = run_plan(tmp_path, SCENARIO, "--policy", policy)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["policy"] == policy
    assert [m["guest"] for m in result["moves"]] == ["aisenzhe"]
    assert result["efficacy"]["moves"] == 1 and result["efficacy"]["gib_to_copy"] == 8.0


def test_an_unknown_policy_exits_2_with_one_line_naming_the_allowed_ones(tmp_path):
    done = run_plan(tmp_path, SCENARIO, "--policy", "greedy")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "CommandError: --policy 'greedy': use one of automigrate, classic, mmt, sandpiper"
    ]
