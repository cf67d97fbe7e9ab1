"""The rule page's Backtest button: who may press it, the task (eager and on a real worker), progress, result."""

import time

import pytest
from django.urls import reverse

from automigrate import tasks
from automigrate.engine.model import MEM
from automigrate.models import BacktestRun
from automigrate.services import backtest
from automigrate.services.rules import create_rule
from tests.backtest.conftest import END

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(monkeypatch):
    """The task runs in this process, as a worker would run it, when the request's transaction commits."""
    monkeypatch.setattr(tasks.run_backtest, "delay", lambda pk: tasks.run_backtest.apply(args=[pk]))


def press(client, rule, since="1d"):
    return client.post(reverse("dashboard:rule-backtest", args=[rule.pk]), {"since": since})


def test_an_operator_runs_a_backtest_and_the_page_shows_the_table_and_chart(
        operator_client, cpu_rule, eager, django_capture_on_commit_callbacks, monkeypatch):
    # The window ends when the run was asked for: pin it to the known day's end.
    monkeypatch.setattr("automigrate.models.backtests.timezone.now", lambda: END)
    with django_capture_on_commit_callbacks(execute=True):
        response = press(operator_client, cpu_rule)
    assert response.status_code == 302
    run = BacktestRun.objects.get()
    assert (run.state, run.progress, run.since_seconds) == ("done", 1.0, 86400)
    assert run.requested_by.username == "operator"
    rows = {row["policy"]: row for row in run.result["policies"]}
    assert rows["none"]["overload_host_minutes"] == 240.0
    status = operator_client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk])).json()
    assert (status["state"], status["active"]) == ("done", False)
    assert 'data-testid="backtest-table"' in status["html"] and "without the rule" in status["html"]
    names = [trace["name"] for trace in status["figure"]["data"]]
    assert "without the rule" in names and "with the rule (automigrate)" in names
    without = next(t for t in status["figure"]["data"] if t["name"] == "without the rule")
    # The page picks the finest step that fits (1 minute for this small day): 240 one-minute steps.
    assert run.result["step_seconds"] == 60
    assert sum(without["y"]) == 240 and len(without["x"]) == 1440
    page = operator_client.get(reverse("dashboard:rule", args=[cpu_rule.pk])).content.decode()
    assert 'id="chart-backtest"' in page and '"chart-backtest"' in page  # the div and its embedded figure
    assert "dashboard/backtest.js" in page


def test_progress_is_shown_while_it_runs_and_a_second_press_is_refused(operator_client, cpu_rule):
    run = backtest.start_run(cpu_rule, None, 3600)  # queued; no worker here
    BacktestRun.objects.filter(pk=run.pk).update(state="running", progress=0.45, message="replaying classic (2 of 3)")
    status = operator_client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk])).json()
    assert status["active"] and status["progress"] == 0.45
    assert 'data-width="45"' in status["html"] and "replaying classic (2 of 3)" in status["html"]
    response = press(operator_client, cpu_rule)
    assert BacktestRun.objects.count() == 1
    assert "already running" in operator_client.get(response.url).content.decode()


def test_a_run_its_worker_never_finished_is_failed_after_the_task_limit(operator_client, cpu_rule, settings):
    run = backtest.start_run(cpu_rule, None, 3600)
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "BACKTEST_TASK_TIME_LIMIT_SECONDS": 0,
                            "TASK_HARD_LIMIT_GRACE_SECONDS": 0}
    status = operator_client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk])).json()
    assert status["state"] == "failed" and not status["active"]
    assert "is a Celery worker consuming the evaluation queue?" in status["html"]


def test_a_failing_backtest_records_its_reason(cpu_rule):
    run = BacktestRun.objects.create(rule=cpu_rule, since_seconds=3600,
                                     requested_at=END.replace(year=2020))  # no samples back then
    tasks.run_backtest.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.state == "failed" and "no guest CPU samples" in run.message
    assert tasks.run_backtest.apply(args=[run.pk]).get().endswith("not queued (done, failed or gone)")


def test_viewers_see_results_but_may_not_start_one(viewer_client, cpu_rule):
    page = viewer_client.get(reverse("dashboard:rule", args=[cpu_rule.pk])).content.decode()
    assert 'data-testid="backtest-button"' not in page
    assert "Running a backtest needs staff or the operators group" in page
    assert press(viewer_client, cpu_rule).status_code == 403
    assert not BacktestRun.objects.exists()
    run = BacktestRun.objects.create(rule=cpu_rule, since_seconds=3600)
    assert viewer_client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk])).status_code == 200


def test_anonymous_users_are_sent_to_log_in(client, cpu_rule):
    run = BacktestRun.objects.create(rule=cpu_rule, since_seconds=3600)
    for response in (press(client, cpu_rule),
                     client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk]))):
        assert response.status_code == 302 and "/accounts/login/" in response.url
    assert BacktestRun.objects.count() == 1


def test_a_run_of_another_rule_is_not_found_under_this_one(viewer_client, cpu_rule):
    other = create_rule({"name": "other", "metric": "cpu.usage_active", "threshold": 70, "period": "5m"})
    run = BacktestRun.objects.create(rule=other, since_seconds=3600)
    assert viewer_client.get(reverse("dashboard:rule-backtest-status", args=[cpu_rule.pk, run.pk])).status_code == 404


def test_memory_rules_have_no_button_and_are_refused(operator_client, known_day):
    rule = create_rule({"name": "low-mem", "metric": MEM, "threshold": "8G", "period": "5m"})
    page = operator_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    assert "Memory rules cannot be backtested" in page and 'data-testid="backtest-button"' not in page
    response = press(operator_client, rule)
    assert "the replay models CPU only" in operator_client.get(response.url).content.decode()
    assert not BacktestRun.objects.exists()


def test_an_unoffered_window_is_refused_naming_the_choices(operator_client, cpu_rule):
    response = press(operator_client, cpu_rule, since="90d")
    assert "since: use one of 1h, 6h, 1d, 7d" in operator_client.get(response.url).content.decode()
    assert not BacktestRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_real_celery_worker_runs_it_from_the_evaluation_queue(cpu_rule, monkeypatch):
    from tests.evaluator.workers import running_worker

    with running_worker() as app:
        monkeypatch.setattr(tasks.run_backtest, "delay",
                            lambda pk: app.send_task("automigrate.tasks.run_backtest", args=[pk]))
        run = backtest.start_run(cpu_rule, None, 86400)  # autocommit: sent at once
        BacktestRun.objects.filter(pk=run.pk).update(requested_at=END)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if not run.active:
                break
            time.sleep(0.5)
    assert run.state == "done", run.message
    assert {row["policy"]: row for row in run.result["policies"]}["none"]["overload_host_minutes"] == 240.0


def test_only_the_latest_runs_of_a_rule_are_kept(cpu_rule):
    for _ in range(backtest.KEEP_RUNS_PER_RULE + 2):
        run = backtest.start_run(cpu_rule, None, 3600)
        BacktestRun.objects.filter(pk=run.pk).update(state="done")
    assert BacktestRun.objects.filter(rule=cpu_rule).count() == backtest.KEEP_RUNS_PER_RULE
    assert BacktestRun.objects.filter(pk=run.pk).exists()  # the newest stays


def test_a_week_of_minutes_is_drawn_as_at_most_2000_points_keeping_every_peak():
    from dashboard import charts

    steps = 7 * 1440
    counts = [0] * steps
    counts[4321] = 3  # one minute with three hosts above: must survive the downsampling
    result = {"start": "2026-11-25T00:00:00+00:00", "step_seconds": 60, "steps": steps, "threshold": 60.0,
              "policies": [{"policy": "none", "overload_host_minutes": 3.0}],
              "hosts_over_threshold": {"none": counts}}
    figure = charts.backtest_hosts_over(result)
    line = figure["data"][0]
    assert len(line["x"]) == len(line["y"]) <= charts.BACKTEST_MAX_POINTS
    assert max(line["y"]) == 3 and sum(line["y"]) == 3
    assert "most per 6 steps drawn" in figure["summary"]
