"""Each dashboard page: who may see it, who may press its buttons, and what it shows."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate.engine.model import CPU
from automigrate.models import Event, HostSample, Migration, MigrationBatch, MigrationRule
from automigrate.services import lock, series
from tests.dashboard.conftest import add_samples

pytestmark = pytest.mark.django_db

GIB = 1024**3


def page_urls(cluster):
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:overview-live"),
        reverse("dashboard:host", args=[cluster.hot.pk]),
        reverse("dashboard:host-chart", args=[cluster.hot.pk]),
        reverse("dashboard:rules"),
        reverse("dashboard:rules-live"),
        reverse("dashboard:rule", args=[cluster.cpu_rule.pk]),
        reverse("dashboard:rule-live", args=[cluster.cpu_rule.pk]),
        reverse("dashboard:events"),
        reverse("dashboard:migrations"),
        reverse("dashboard:migrations-live"),
    ]


def button_urls(cluster):
    rule = cluster.cpu_rule.pk
    return [
        reverse("dashboard:rule-toggle", args=[rule]),
        reverse("dashboard:rule-evaluate", args=[rule]),
        reverse("dashboard:rule-preview", args=[rule]),
        reverse("dashboard:rule-approve", args=[rule, 1]),
    ]


def test_every_page_renders_for_a_viewer(viewer_client, cluster):
    for url in page_urls(cluster):
        response = viewer_client.get(url)
        assert response.status_code == 200, url


def test_anonymous_users_are_sent_to_the_login_page(client, cluster):
    for url in page_urls(cluster) + button_urls(cluster):
        response = client.get(url) if "live" in url or "/rules/" not in url else client.post(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_login_page_logs_in_and_goes_home(client, viewer):
    page = client.get(reverse("login"))
    assert b'name="username"' in page.content and b"csrfmiddlewaretoken" in page.content
    response = client.post(reverse("login"), {"username": "viewer", "password": "viewer-pass-123"})
    assert response.status_code == 302 and response.url == "/"


def test_viewers_cannot_press_operator_buttons(viewer_client, cluster):
    for url in button_urls(cluster):
        assert viewer_client.post(url, {"enabled": "0"}).status_code == 403, url
    cluster.cpu_rule.refresh_from_db()
    assert cluster.cpu_rule.enabled


def test_viewers_do_not_see_the_buttons(client, viewer, operator, cluster):
    url = reverse("dashboard:rule", args=[cluster.cpu_rule.pk])
    client.force_login(viewer)
    assert b"Preview plan" not in client.get(url).content
    client.force_login(operator)
    assert b"Preview plan" in client.get(url).content


def test_buttons_refuse_get(operator_client, cluster):
    for url in button_urls(cluster):
        assert operator_client.get(url).status_code == 405, url


def test_buttons_need_the_csrf_token(operator, cluster):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    response = strict.post(reverse("dashboard:rule-toggle", args=[cluster.cpu_rule.pk]), {"enabled": "0"})
    assert response.status_code == 403
    cluster.cpu_rule.refresh_from_db()
    assert cluster.cpu_rule.enabled


def test_operator_disables_and_enables_a_rule_with_events(operator_client, cluster):
    url = reverse("dashboard:rule-toggle", args=[cluster.cpu_rule.pk])
    response = operator_client.post(url, {"enabled": "0"}, follow=True)
    cluster.cpu_rule.refresh_from_db()
    assert not cluster.cpu_rule.enabled
    assert b"disabled" in response.content
    operator_client.post(url, {"enabled": "1"})
    cluster.cpu_rule.refresh_from_db()
    assert cluster.cpu_rule.enabled
    actions = list(Event.objects.filter(rule_ref=cluster.cpu_rule.pk, user="operator").values_list("action", flat=True))
    assert actions == ["enable", "disable"]


def test_preview_shows_the_plan_and_executes_nothing(operator_client, cluster):
    migrations, events = Migration.objects.count(), Event.objects.count()
    response = operator_client.post(reverse("dashboard:rule-preview", args=[cluster.cpu_rule.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="plan"' in html and "Nothing was executed" in html
    # node-001 is at 85 % against 60 %: the plan names it as firing.
    assert "node-001" in html.split('id="plan"')[1]
    assert Migration.objects.count() == migrations
    assert Event.objects.count() == events


def test_evaluate_now_runs_the_evaluator(staff_client, cluster):
    rule = cluster.cpu_rule
    MigrationRule.objects.filter(pk=rule.pk).update(mode=MigrationRule.Mode.RECOMMEND)
    response = staff_client.post(reverse("dashboard:rule-evaluate", args=[rule.pk]), follow=True)
    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.last_evaluated_at is not None
    assert f"Evaluated {rule.name}" in response.content.decode()


def test_pending_recommendations_can_be_approved_once(staff_client, cluster):
    rule = cluster.cpu_rule
    MigrationRule.objects.filter(pk=rule.pk).update(mode=MigrationRule.Mode.RECOMMEND)
    staff_client.post(reverse("dashboard:rule-evaluate", args=[rule.pk]))
    # node-001 at 85 % has guests that fit on the quiet hosts: the engine must recommend a move.
    recommendation = Event.objects.filter(rule_ref=rule.pk, action=Event.Action.RECOMMEND).first()
    assert recommendation is not None, list(Event.objects.filter(rule_ref=rule.pk).values_list("action", "summary"))
    page = staff_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    approve_url = reverse("dashboard:rule-approve", args=[rule.pk, recommendation.pk])
    assert approve_url in page
    staff_client.post(approve_url)
    assert Event.objects.filter(action=Event.Action.APPROVE, notes__recommendation=recommendation.pk).exists()
    assert approve_url not in staff_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    again = staff_client.post(approve_url, follow=True)
    assert "already approved" in again.content.decode()


def test_overview_marks_hot_hosts_and_draws_thresholds(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:overview"))
    rows = {row.name: row for row in response.context["hosts_page"]}
    assert rows["node-001"].cpu_hot and not rows["node-001"].mem_hot
    assert rows["node-002"].mem_hot and not rows["node-002"].cpu_hot
    assert not rows["node-003"].hot
    # Hot first by default, busiest CPU first among each: the two hot hosts, then the rest by CPU.
    assert [row.name for row in response.context["hosts_page"]] == [
        "node-001", "node-002", "node-005", "node-004", "node-003"
    ]
    html = response.content.decode()
    assert html.count('class="row-hot"') == 2
    figures = response.context["figures"]
    cpu_lines = [shape["y0"] for shape in figures["chart-cpu"]["layout"]["shapes"]]
    mem_lines = [shape["y0"] for shape in figures["chart-mem"]["layout"]["shapes"]]
    assert cpu_lines == [60] and mem_lines == [16]
    cpu_bars = figures["chart-cpu"]["data"][0]
    assert cpu_bars["x"][0] == "node-001" and cpu_bars["y"][0] == 85.0
    assert cpu_bars["marker"]["color"][0] != cpu_bars["marker"]["color"][1]


def lock_tile(html):
    return html.split('<div class="tile-label">Migration lock</div>')[1].split("</div>\n  </div>")[0]


def test_overview_shows_in_flight_migrations_and_the_lock(viewer_client, cluster):
    html = viewer_client.get(reverse("dashboard:overview")).content.decode()
    inflight = html.split('id="overview-inflight"')[1].split("</section>")[0]
    assert "vm-2-0" in inflight and "node-003" in inflight and "node-005" in inflight
    assert "vm-0-0" not in inflight  # its migration succeeded
    assert '<div class="tile-value tile-text">free</div>' in lock_tile(html)

    batch = MigrationBatch.objects.create(rule=cluster.cpu_rule, rule_name=cluster.cpu_rule.name)
    Migration.objects.filter(state=Migration.State.MIGRATING).update(batch=batch)
    assert lock.acquire(batch).won
    tile = lock_tile(viewer_client.get(reverse("dashboard:overview")).content.decode())
    assert "free" not in tile
    assert f'held by <a href="{reverse("dashboard:rule", args=[cluster.cpu_rule.pk])}">test-cpu</a>' in tile
    assert f"batch #{batch.pk} · 1 migrating, 0 pending" in tile


def test_overview_table_searches_sorts_and_pages(viewer_client, cluster, make_host):
    for i in range(60):
        make_host(f"extra-{i:02d}")
    found = viewer_client.get(reverse("dashboard:overview"), {"q": "node-00"}).context["hosts_page"]
    assert sorted(row.name for row in found) == [f"node-00{i}" for i in range(1, 6)]
    by_name = viewer_client.get(reverse("dashboard:overview"), {"sort": "name"}).context["hosts_page"]
    assert [row.name for row in by_name][:2] == ["extra-00", "extra-01"]
    assert by_name.paginator.num_pages == 2
    second = viewer_client.get(reverse("dashboard:overview"), {"sort": "name", "page": 2}).context["hosts_page"]
    assert second[len(second) - 1].name == "node-005"


def test_host_page_shows_guest_scores_thresholds_and_moves(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:host", args=[cluster.hot.pk]), {"range": "1h"})
    guests = response.context["guests"]
    # 50 % of 8 vCPUs on a 40-core host: 10 % of the host.
    assert [round(row.score, 2) for row in guests] == [10.0, 10.0, 10.0]
    assert "10.00%" in response.content.decode()
    figure = response.context["figures"]["chart-host"]
    lines = {(shape["yref"], shape["y0"]) for shape in figure["layout"]["shapes"]}
    assert lines == {("y", 60), ("y2", 16)}
    left = next(trace for trace in figure["data"] if trace["name"] == "guest left")
    assert left["text"] == ["vm-0-0 left for node-004"]
    cpu = figure["data"][0]
    assert cpu["name"] == "cpu.usage_active" and set(cpu["y"]) == {85.0}


def test_host_chart_endpoint_serves_figure_and_fragments(viewer_client, cluster):
    # A week of samples every 200 s: about 3,000 per metric, more than a chart may carry.
    add_samples([cluster.hot], {"node-001": 70.0}, {"node-001": 64.0 * GIB},
                minutes=7 * 24 * 60 - 60, step_seconds=200, now=timezone.now() - timedelta(minutes=31))
    samples = HostSample.objects.filter(host=cluster.hot, metric=CPU).count()
    assert samples > series.MAX_POINTS
    response = viewer_client.get(reverse("dashboard:host-chart", args=[cluster.hot.pk]), {"range": "7d"})
    payload = json.loads(response.content)
    assert set(payload["fragments"]) == {"host-now", "host-guests"}
    figure = payload["figures"]["chart-host"]
    assert 1000 < len(figure["data"][0]["x"]) <= series.MAX_POINTS
    assert 1000 < len(figure["data"][1]["x"]) <= series.MAX_POINTS
    assert "vm-0-1" in payload["fragments"]["host-guests"]


def test_unknown_range_falls_back_to_the_default(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:host", args=[cluster.hot.pk]), {"range": "forever"})
    assert response.context["range_key"] == "6h"


def test_rules_list_shows_state_and_last_evaluation(viewer_client, cluster):
    MigrationRule.objects.filter(pk=cluster.mem_rule.pk).update(enabled=False)
    response = viewer_client.get(reverse("dashboard:rules"))
    states = {rule.name: rule.state for rule in response.context["rules_page"]}
    assert states == {"low-mem": "disabled", "test-cpu": "idle"}
    assert "never" in response.content.decode()


def test_rule_page_charts_watched_hosts_against_its_threshold(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:rule", args=[cluster.cpu_rule.pk]))
    figure = response.context["figures"]["chart-rule"]
    assert figure["layout"]["shapes"][0]["y0"] == 60
    assert figure["data"][0]["x"][0] == "node-001"
    assert response.context["firing_count"] == 1
    assert "find_result_fail" in response.content.decode()


def test_rule_with_source_hosts_charts_only_those(viewer_client, cluster):
    cluster.cpu_rule.source_hosts.set(cluster.hosts[2:4])
    response = viewer_client.get(reverse("dashboard:rule", args=[cluster.cpu_rule.pk]))
    assert sorted(response.context["figures"]["chart-rule"]["data"][0]["x"]) == ["node-003", "node-004"]


def test_migrations_page_lists_every_attempt_with_duration(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:migrations"))
    states = [m.state for m in response.context["migrations_page"]]
    assert sorted(states) == ["migrating", "succeeded"]
    assert "2m 00s" in response.content.decode()
    only_done = viewer_client.get(reverse("dashboard:migrations"), {"state": "succeeded"}).context["migrations_page"]
    assert [m.state for m in only_done] == ["succeeded"]
