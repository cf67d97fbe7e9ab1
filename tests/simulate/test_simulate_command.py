"""`manage.py simulate` as a user runs it: a subprocess, its stdout, stderr and exit status."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulate.trace_builders import hot_then_calm, write_json

ROOT = Path(__file__).resolve().parents[2]
FIELDS = [
    "policy", "trace", "steps", "step_seconds", "hosts", "guests", "threshold",
    "overload_host_minutes", "peak_host_cpu", "migrations", "migrated_gib", "ping_pongs",
    "find_result_fail", "failed_migrations", "mean_host_cpu_stddev", "gib_off_unrelieved",
]


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "simulate", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_json_output_is_exactly_one_object_with_the_issue_fields(tmp_path):
    path = write_json(tmp_path, hot_then_calm())
    done = simulate("--trace", str(path), "--policy", "none", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # fails on anything but one JSON document
    assert list(result) == FIELDS
    assert result["overload_host_minutes"] == 30.0
    assert (result["hosts"], result["guests"], result["threshold"]) == (2, 3, 60)


def test_options_reach_the_replay(tmp_path):
    path = write_json(tmp_path, hot_then_calm())
    done = simulate("--trace", str(path), "--policy", "automigrate", "--threshold", "65",
                    "--period", "5m", "--seed", "3", "--json")
    result = json.loads(done.stdout)
    assert (result["policy"], result["threshold"], result["migrations"]) == ("automigrate", 65, 1)
    # A 5-minute window fires after the first step: only one overloaded step remains.
    assert result["overload_host_minutes"] == 5.0


def test_the_summary_names_hosts_and_guests(tmp_path):
    done = simulate("--trace", str(write_json(tmp_path, hot_then_calm())))
    assert done.returncode == 0
    assert "2 hosts, 3 guests" in done.stdout
    assert "overload host-minutes  10.0" in done.stdout


def test_a_truncated_trace_exits_2_with_one_line_naming_file_and_line(tmp_path):
    folder = tmp_path / "2013-8"
    folder.mkdir()
    header = ";\t".join(["Timestamp [ms]", *(f"c{i}" for i in range(10))])
    good = ";\t".join(["1377036128", "1", *["1.0"] * 9])
    (folder / "1.csv").write_text(f"{header}\n{good}\n1377036428;\t1;\t26")
    done = simulate("--trace", str(folder))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"simulate: {folder / '1.csv'} line 3: expected 11 ';'-separated fields, got 3"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "greedy"],
         "simulate: --policy 'greedy': use one of automigrate, classic, mmt, sandpiper, oracle, none"),
        (["--period", "soon"], "simulate: --period: 'soon' is not a period"),
        (["--threshold", "abc"], "simulate: --threshold 'abc': expected a number"),
        (["--hosts", "3"], "--hosts applies only to traces without hosts"),
    ],
)
def test_a_bad_option_exits_2_with_one_line(tmp_path, args, message):
    done = simulate("--trace", str(write_json(tmp_path, hot_then_calm())), *args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert message in done.stderr


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"step_seconds": 300,\n"hosts": [}')
    done = simulate("--trace", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"simulate: {path} line 2: invalid JSON: Expecting value"]
