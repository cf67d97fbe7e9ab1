"""`manage.py migrationalert`: each subcommand, its tables, and one-line errors on bad input."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from automigrate.models import Event, MigrationRule
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("migrationalert", *args, stdout=out)
    return out.getvalue()


def rows(table: str) -> list[list[str]]:
    """The data rows of a printed table, as lists of stripped cells."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_create_like_the_seed_prints_the_rule_and_records_the_user(operator, make_host):
    make_host("test-66-onecloud02")
    out = run("create", "--period", "2m", "--source-host", "test-66-onecloud02", "--user", "operator",
              "test-cpu", "cpu.usage_active.gt", "60")
    shown = dict(rows(out))
    assert shown["name"] == "test-cpu" and shown["metric_type"] == "cpu.usage_active.gt"
    assert (shown["threshold"], shown["period"], shown["source_hosts"]) == ("60%", "2m", "test-66-onecloud02")
    rule = MigrationRule.objects.get()
    assert rule.created_by == operator
    assert Event.objects.get().user == "operator"


def test_create_a_memory_rule_in_recommend_mode_with_a_size(make_host):
    make_host("h1")
    make_host("h2")
    run("create", "--target-host", "h1", "--target-host", "h2", "--mode", "recommend",
        "mem-low", "mem.available.lt", "8G")
    rule = MigrationRule.objects.get()
    assert (rule.threshold, rule.mode) == (8 * 1024**3, "recommend")
    assert sorted(h.name for h in rule.target_hosts.all()) == ["h1", "h2"]


def test_without_user_the_cli_login_is_recorded():
    run("create", "test-cpu", "cpu.usage_active.gt", "60")
    assert Event.objects.get().user.startswith("cli:")


def test_list_prints_a_table_and_filters_by_metric_type():
    create_rule({"name": "cpu-a", "threshold": 60})
    create_rule({"name": "mem-a", "metric": "mem.available", "threshold": "8G"})
    table = run("list")
    assert table.splitlines()[0].startswith("+--")
    assert [r[1] for r in rows(table)] == ["cpu-a", "mem-a"]
    assert [r[1] for r in rows(run("list", "--metric-type", "mem.available.lt"))] == ["mem-a"]


def test_show_accepts_id_or_name():
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    assert dict(rows(run("show", str(rule.pk))))["name"] == "test-cpu"
    assert dict(rows(run("show", "test-cpu")))["id"] == str(rule.pk)


def test_update_changes_only_the_given_options(make_host):
    make_host("a15")
    create_rule({"name": "test-cpu", "threshold": 60, "period": "2m"})
    shown = dict(rows(run("update", "test-cpu", "--threshold", "70", "--source-host", "a15")))
    assert (shown["threshold"], shown["period"], shown["source_hosts"]) == ("70%", "2m", "a15")
    shown = dict(rows(run("update", "test-cpu", "--no-source-hosts")))
    assert shown["source_hosts"] == ""
    assert Event.objects.filter(action="update").count() == 2


def test_enable_and_disable():
    create_rule({"name": "test-cpu", "threshold": 60})
    assert dict(rows(run("disable", "test-cpu")))["enabled"] == "false"
    assert dict(rows(run("enable", "test-cpu")))["enabled"] == "true"
    assert list(Event.objects.order_by("id").values_list("action", flat=True)) == ["create", "disable", "enable"]


def test_delete_and_the_events_of_the_deleted_rule_stay_readable():
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    assert run("delete", "test-cpu") == f"deleted rule {rule.pk} (test-cpu)\n"
    assert not MigrationRule.objects.exists()
    for ref in ("test-cpu", str(rule.pk)):
        assert [r[7] for r in rows(run("events", ref))] == ["delete", "create"]


def test_events_print_the_seed_columns_newest_first_with_filters():
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    run("disable", "test-cpu")
    run("enable", "test-cpu")
    table = run("events", "test-cpu")
    header = [cell.strip() for cell in table.splitlines()[1].strip("|").split("|")]
    assert header == ["id", "ops_time", "obj_id", "obj_type", "obj_name", "user", "tenant", "action", "notes"]
    first = rows(table)[0]
    assert first[2:5] == [str(rule.pk), "migrationalert", "test-cpu"]
    assert first[1].endswith("Z") and first[7] == "enable"
    assert '"res_name":"migrationalert"' in first[8]
    assert [r[7] for r in rows(run("events", "test-cpu", "--action", "create"))] == ["create"]
    assert [r[7] for r in rows(run("events", "test-cpu", "--limit", "2"))] == ["enable", "disable"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "cpu.usage_active.gt", "150"], "threshold: 150 is out of range"),
        (["create", "x", "cpu.usage_active.gt", "60", "--period", "5x"], "period: '5x' is not a period"),
        (["create", "x", "cpu.usage_active.gt", "60", "--period", "2d"], "period: '2d' is too long: at most 1d"),
        (["create", "x", "mem.available.lt", "2P"], "threshold: '2P' is too large"),
        (["update", "existing", "--metric-type", "mem.available.lt"],
         "threshold: give a new threshold when changing the metric"),
        (["create", "x", "disk.used.gt", "60"], "'disk.used.gt' is not a metric type"),
        (["create", "x", "mem.available.lt", "lots"], "threshold: 'lots' is not a size"),
        (["create", "x", "cpu.usage_active.gt", "60", "--source-host", "nowhere"], "no host named 'nowhere'"),
        (["create", "x", "cpu.usage_active.gt", "60", "--user", "nobody"], "no active user named 'nobody'"),
        (["create", "x", "cpu.usage_active.gt", "60", "--mode", "yolo"], "invalid choice: 'yolo'"),
        (["show", "missing"], "no rule with id or name 'missing'"),
        (["update", "missing", "--threshold", "1"], "no rule with id or name 'missing'"),
        (["update", "existing"], "nothing to change"),
        (["events", "missing"], "no rule with id or name 'missing'"),
        (["events", "existing", "--limit", "0"], "0 is not positive"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_a_clear_command_error_and_changes_nothing(args, message):
    create_rule({"name": "existing", "threshold": 60})
    with pytest.raises(CommandError) as error:
        run(*args)
    assert message in str(error.value)
    assert MigrationRule.objects.count() == 1
    assert Event.objects.count() == 1


def test_digits_naming_one_rule_by_id_and_another_by_name_are_refused_in_one_line():
    first = create_rule({"name": "a7", "threshold": 60})
    second = create_rule({"name": str(first.pk), "threshold": 70})
    expected = f"'{first.pk}' is rule #{first.pk} (a7) and also the name of rule #{second.pk}: use the id or rename"
    for args in (["show", str(first.pk)], ["disable", str(first.pk)], ["events", str(first.pk)]):
        with pytest.raises(CommandError) as error:
            run(*args)
        assert str(error.value) == expected
    assert MigrationRule.objects.filter(enabled=True).count() == 2


def test_a_duplicate_name_is_refused():
    create_rule({"name": "test-cpu", "threshold": 60})
    with pytest.raises(CommandError, match="a rule named 'test-cpu' already exists"):
        run("create", "test-cpu", "cpu.usage_active.gt", "70")


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite file of its own: a subprocess cannot see the test's transaction anyway."""
    var = tmp_path_factory.mktemp("var")
    env = {"AUTOMIGRATE_VAR_DIR": str(var), "PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{var}/cli.sqlite3"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["create", "x", "cpu.usage_active.gt", "150"], 2), (["create", "x"], 2), ([], 2), (["show", "nope"], 2),
        # Issue 10: these ended in tracebacks.
        (["create", "n" * 201, "cpu.usage_active.gt", "60"], 2),
        (["events", "x", "--limit", "99999999999999999999999"], 2),
        (["show", "99999999999999999999999"], 2),
        (["create", "x", "cpu.usage_active.gt", "60", "--period", "1e9999"], 2),
        (["create", "x", "cpu.usage_active.gt", "1e400"], 2),
    ],
)
def test_from_the_shell_an_error_is_one_line_on_stderr_and_a_non_zero_exit(shell_env, args, code):
    result = subprocess.run([sys.executable, "manage.py", "migrationalert", *args], cwd=ROOT, env=shell_env,
                            capture_output=True, text=True)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


# --- issue 10: every bad argument exits 2 in one line; names are printed escaped -------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "n" * 201, "cpu.usage_active.gt", "60"], "name: a rule name is at most 200 characters, got 201"),
        (["update", "existing", "--name", "n" * 201], "name: a rule name is at most 200 characters, got 201"),
        (["events", "existing", "--limit", "99999999999999999999999"], "is too many: at most 10000"),
        (["create", "x", "cpu.usage_active.gt", "-5"], "threshold: -5 is out of range"),
        (["create", "x", "cpu.usage_active.gt", "60", "--period", "1s"], "shorter than the minimum period of 10s"),
        # PostgreSQL cannot store NUL in text: refused before it gets there.
        (["create", "x\x00y", "cpu.usage_active.gt", "60"], "a rule name cannot contain a NUL character"),
    ],
)
def test_bad_arguments_are_command_errors_with_exit_status_2(args, message):
    create_rule({"name": "existing", "threshold": 60})
    with pytest.raises(CommandError) as error:
        run(*args)
    assert message in str(error.value) and error.value.returncode == 2
    assert MigrationRule.objects.get().name == "existing"
    assert Event.objects.count() == 1


HOSTILE = "evil\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"
ESCAPED = "evil\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202e"


@pytest.fixture
def operator_api(operator):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=operator)[0].key}")
    return client


def test_a_name_with_terminal_escapes_from_the_api_is_printed_escaped(operator_api):
    response = operator_api.post("/api/rules/", {"name": HOSTILE, "threshold": 60}, format="json")
    assert response.status_code == 201, response.json()
    rule_id = str(response.json()["id"])
    outputs = {
        "list": run("list"),
        "show": run("show", rule_id),
        "events": run("events", rule_id),
        "delete": run("delete", rule_id),
    }
    for action, out in outputs.items():
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out, action
        assert ESCAPED in out, action
    with pytest.raises(CommandError) as error:
        run("show", HOSTILE)
    assert "\x1b" not in str(error.value) and ESCAPED in str(error.value)
