"""End to end on each real server: a recommend-mode rule on the simulated inventory fires on the host the
server's data make hot and records its value; the host chart and /api/metrics/ show the server's numbers.
A source that is down or slow: one readable event, every host stale, pages with a banner, the API a 503.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, Host, HostSample
from automigrate.services import evaluate
from automigrate.services.rules import create_rule
from automigrate.simulator import cluster
from automigrate.sources import get_source
from tests.sources import servers
from tests.sources.conftest import SlowServer, configure, cpu_line, every, mem_line, vm_line

pytestmark = pytest.mark.django_db
HOT, HOT_CPU, CALM_CPU, PERIOD = "sim-host-01", 90.0, 20.0, 120


def telegraf_data(now: datetime) -> list[str]:
    """Every simulated host and guest as telegraf would report them; sim-host-01 at 90 %, the rest at 20 %."""
    lines = []
    for host in Host.objects.all():
        cpu = HOT_CPU if host.name == HOT else CALM_CPU
        # On the window's start (excluded from the mean): a value that would pull the mean down.
        lines.append(cpu_line(f"box-{host.pk}", 0, now - timedelta(seconds=PERIOD), host.external_id))
        for at in every(now, PERIOD - 10):
            lines.append(cpu_line(f"box-{host.pk}", cpu, at, host.external_id))
            lines.append(mem_line(f"box-{host.pk}", host.mem_total // 2, at, host.external_id))
    for guest in Guest.objects.select_related("host"):
        cpu = 95.0 if guest.host.name == HOT else 10.0
        lines += [vm_line(guest.external_id, cpu, at) for at in every(now, PERIOD - 10)]
    return lines


@pytest.fixture
def simulated(db):
    cluster.seed_cluster(hosts=6, guests=40, seed=1)
    return Host.objects.get(name=HOT)


def test_a_rule_fires_on_the_servers_data_and_the_dashboard_shows_it(
    kind, settings, tmp_path, simulated, viewer_client
):
    running = servers.start(kind, tmp_path / kind)
    try:
        configure(settings, kind, running.url)
        now = datetime.fromtimestamp(int(time.time()), tz=UTC)
        running.write_lines(telegraf_data(now))
        rule = create_rule({"name": "busy", "metric": CPU, "threshold": 80, "period": "2m", "mode": "recommend"})

        evaluation = evaluate.evaluate_rule(rule, now=now)

        assert evaluation.result == evaluate.RECOMMEND, evaluation.summary
        event = Event.objects.get(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
        assert [(item["host"], item["value"]) for item in event.notes["triggered"]] == [(HOT, pytest.approx(HOT_CPU))]
        assert {move["move"]["source"] for move in event.notes["moves"]} == {HOT}
        assert not HostSample.objects.exists()  # nothing was stored in PostgreSQL/SQLite

        chart = viewer_client.get(f"/hosts/{simulated.pk}/chart/?range=1h").json()["figures"]["chart-host"]
        cpu_trace = next(trace for trace in chart["data"] if trace["name"] == CPU)
        served = [round(value, 2) for _, value in get_source().host_series(simulated.pk, CPU, now - timedelta(hours=1),
                                                                            now, 2)]
        # The start sample (outside the evaluation's window, but stored), then the window's 90s; VictoriaMetrics
        # leaves out a bucket still filling, so the newest sample may be missing from a chart drawn at once.
        for values in (served, cpu_trace["y"]):
            assert values[0] == 0.0 and values[1:] == [HOT_CPU] * (len(values) - 1) and len(values) >= 12

        api = viewer_client.get(f"/api/metrics/{simulated.pk}/?window=1m").json()
        assert api["cpu_usage_active"] == pytest.approx(HOT_CPU)
        assert api["mem_available"] == pytest.approx(simulated.mem_total // 2)
        series = viewer_client.get(
            f"/api/metrics/{simulated.pk}/series/?metric=mem.available&range=1h&points=2000"
        ).json()
        assert series["values"] == pytest.approx([simulated.mem_total // 2] * len(series["values"]))
        assert len(series["values"]) >= 11
        assert viewer_client.get("/").status_code == 200
    finally:
        running.stop()


@pytest.mark.parametrize("kind", servers.KINDS)
@pytest.mark.parametrize("failure", ["down", "slow"])
def test_a_failing_source_gives_one_event_stale_hosts_and_a_banner(kind, failure, settings, simulated, viewer_client):
    slow = SlowServer(delay=4) if failure == "slow" else None
    url = slow.url if slow else f"http://127.0.0.1:{servers.free_port()}"
    try:
        configure(settings, kind, url, METRIC_TIMEOUT_SECONDS=1)
        rule = create_rule({"name": "busy", "metric": CPU, "threshold": 80, "period": "2m", "mode": "recommend"})
        began = time.monotonic()
        first = evaluate.evaluate_rule(rule)
        assert time.monotonic() - began < 3
        evaluate.evaluate_rule(rule)  # the same reason again: no second event

        why = f"metric source {url} did not answer" + (" in 1 s" if slow else ": connection refused")
        events = list(Event.objects.filter(rule_ref=rule.pk).exclude(action=Event.Action.CREATE))
        assert len(events) == 1
        assert events[0].summary.startswith(f"{why}: no host evaluated; no fresh samples")
        assert events[0].notes["source_error"] == why
        assert events[0].notes["stale"]["hosts"] == sorted(Host.objects.values_list("name", flat=True))
        assert first.result == evaluate.NOT_TRIGGERED

        page = viewer_client.get("/")
        assert page.status_code == 200 and why in page.content.decode()
        assert viewer_client.get(f"/hosts/{simulated.pk}/").status_code == 200
        assert viewer_client.get(f"/rules/{rule.pk}/").status_code == 200
        api = viewer_client.get("/api/metrics/")
        assert api.status_code == 503 and api.json()["detail"] == why
    finally:
        if slow:
            slow.stop()


def test_the_simulator_stores_no_samples_when_an_external_source_is_configured(settings, simulated):
    configure(settings, "influxdb", "http://127.0.0.1:9")
    assert cluster.tick() == (0, 0)
    assert not HostSample.objects.exists()
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "simulator"}
    assert cluster.tick()[0] == 2 * Host.objects.count()


def test_memory_rules_read_the_servers_memory_too(kind, settings, tmp_path, simulated):
    running = servers.start(kind, tmp_path / kind)
    try:
        configure(settings, kind, running.url)
        now = datetime.fromtimestamp(int(time.time()), tz=UTC)
        running.write_lines(telegraf_data(now))
        means = get_source().host_means(now - timedelta(seconds=PERIOD), now)
        assert means[simulated.pk] == {CPU: pytest.approx(HOT_CPU), MEM: pytest.approx(simulated.mem_total // 2)}
        rule = create_rule({"name": "low-mem", "metric": MEM, "threshold": "1G", "period": "2m", "mode": "recommend"})
        assert evaluate.evaluate_rule(rule, now=now).result == evaluate.NOT_TRIGGERED
    finally:
        running.stop()



def test_out_of_range_samples_are_left_out_of_the_decision_and_counted(kind, settings, tmp_path, simulated):
    running = servers.start(kind, tmp_path / kind)
    try:
        configure(settings, kind, running.url)
        now = datetime.fromtimestamp(int(time.time()), tz=UTC)
        # A broken sender on the hot host: two impossible CPU values that would drag its mean to 52 %.
        broken = [cpu_line(f"box-{simulated.pk}", value, now - timedelta(seconds=5 + index), simulated.external_id)
                  for index, value in enumerate((-1000.0, 640.0))]
        running.write_lines(telegraf_data(now) + broken)
        rule = create_rule({"name": "busy", "metric": CPU, "threshold": 80, "period": "2m", "mode": "recommend"})
        evaluation = evaluate.evaluate_rule(rule, now=now)
        assert evaluation.result == evaluate.RECOMMEND
        event = Event.objects.get(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
        assert event.notes["triggered"][0]["value"] == pytest.approx(HOT_CPU)
        assert event.notes["ignored_samples"] == {CPU: 2}
    finally:
        running.stop()
