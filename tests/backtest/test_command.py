"""`manage.py backtest`: the table, one JSON object, and one line (exit 2) for every bad input."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from automigrate.engine.model import MEM
from automigrate.services.rules import create_rule
from tests.backtest.conftest import END

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def backtest(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        backtest(*args)
    assert caught.value.returncode == 2
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_table_names_each_policy_and_without_the_rule(cpu_rule):
    out = backtest(str(cpu_rule.pk), "--since", "1d", "--step", "5m", "--until", END.isoformat())
    assert "Backtest of rule day-cpu (cpu.usage_active > 60% over 10m)" in out
    assert "288 steps of 5m, 3 hosts, 5 guests" in out
    assert "| none (without the rule) | 240.0" in out
    assert "1 successful migrations since the start walked back" in out


def test_policy_limits_the_replays_but_none_is_always_there(cpu_rule):
    result = json.loads(backtest("day-cpu", "--since", "1d", "--policy", "classic", "--json",
                                 "--until", END.isoformat()))
    assert [row["policy"] for row in result["policies"]] == ["classic", "none"]
    assert set(result["hosts_over_threshold"]) == {"classic", "none"}
    assert result["steps"] * result["step_seconds"] == 86400


@pytest.mark.parametrize(("args", "expected"), [
    (["nope"], "RULE: no rule with id or name 'nope'"),
    (["day-cpu", "--since", "1y"], "--since: '1y' is not a period"),
    (["day-cpu", "--since", "40d"], "--since: '40d' is too long: at most 31d"),
    (["day-cpu", "--since", "1m"], "--since: '1m' is too short"),
    (["day-cpu", "--policy", "best"], "--policy: 'best' is not a policy: use one of automigrate"),
    (["day-cpu", "--step", "7m"], "--step: '7m' is not offered: use one of 1m, 2m, 5m"),
    (["day-cpu", "--until", "yesterday"], "--until: 'yesterday' is not a time"),
    (["day-cpu", "--until", "2999-01-01T00:00"], "--until: '2999-01-01T00:00' is in the future"),
])
def test_bad_input_is_one_line_naming_the_option(cpu_rule, args, expected):
    assert expected in refused(*args)


def test_a_memory_rule_is_refused_in_one_line(known_day):
    create_rule({"name": "low-mem", "metric": MEM, "threshold": "8G", "period": "5m"})
    assert "watches mem.available: the replay models CPU only" in refused("low-mem")


def test_an_empty_window_says_there_is_nothing_to_replay(cpu_rule):
    assert "no guest CPU samples" in refused("day-cpu", "--since", "1h", "--until", "2020-01-01T00:00")


def test_an_unwritable_export_file_is_named(cpu_rule, tmp_path):
    target = tmp_path / "missing" / "trace.json"
    assert f"--export-trace {target}: cannot write" in refused("day-cpu", "--until", END.isoformat(),
                                                                 "--export-trace", str(target))


def test_from_the_shell_a_bad_option_is_one_line_on_stderr_and_exit_2():
    done = subprocess.run([sys.executable, "manage.py", "backtest", "x", "--bogus"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "unrecognized arguments: --bogus" in done.stderr
