"""Figures: which thresholds a chart draws, and names that Plotly must not read as HTML."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate.models import Migration
from automigrate.services.rules import create_rule
from dashboard import charts
from tests.dashboard.conftest import GIB, add_samples

pytestmark = pytest.mark.django_db


def overview_figures(viewer_client):
    return viewer_client.get(reverse("dashboard:overview")).context["figures"]


def watch(rule, hosts):
    rule.source_hosts.set(hosts)
    return rule


def bars_and_marks(figure):
    bars = figure["data"][0]
    colors = dict(zip(bars["x"], bars["marker"]["color"], strict=True))
    marks = [trace for trace in figure["data"][1:] if trace["name"] == "host threshold"]
    return colors, marks


# --- 2. thresholds of rules watching some hosts are not drawn across every host ----------


def test_a_rule_watching_some_hosts_is_marked_on_their_bars_only(viewer_client, cluster):
    # node-003 22 %, node-004 23 %, node-005 24 %: the new rule watches node-003 and node-004.
    watch(create_rule({"name": "few", "metric": "cpu.usage_active", "threshold": 22.5, "period": "2m"}),
          cluster.hosts[2:4])
    figure = overview_figures(viewer_client)["chart-cpu"]
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [60]  # only the rule watching all
    colors, marks = bars_and_marks(figure)
    assert colors["node-004"] == charts.COLOR_HOT  # 23 % crosses the rule that watches it
    assert colors["node-005"] == charts.COLOR_OK  # 24 %, but no 22.5 % rule watches it
    assert colors["node-003"] == charts.COLOR_OK
    assert len(marks) == 1
    assert dict(zip(marks[0]["x"], marks[0]["y"], strict=True)) == {"node-004": 22.5, "node-003": 22.5}
    assert "few" in marks[0]["text"][0]


def test_a_rule_listing_every_host_is_a_full_width_line(viewer_client, cluster):
    watch(create_rule({"name": "all-listed", "metric": "mem.available", "threshold": "200G", "period": "2m"}),
          cluster.hosts)
    figure = overview_figures(viewer_client)["chart-mem"]
    assert sorted(shape["y0"] for shape in figure["layout"]["shapes"]) == [16, 200]
    colors, marks = bars_and_marks(figure)
    assert marks == [] and set(colors.values()) == {charts.COLOR_HOT}


def test_memory_marks_use_gib(viewer_client, cluster):
    watch(create_rule({"name": "few-mem", "metric": "mem.available", "threshold": "200G", "period": "2m"}),
          cluster.hosts[2:3])
    _, marks = bars_and_marks(overview_figures(viewer_client)["chart-mem"])
    assert marks[0]["x"] == ["node-003"] and marks[0]["y"] == [200.0]


# --- 6. names are text, not HTML ----------------------------------------------------------


EVIL_HOST = '<a href="https://example.invalid">evil</a>'
EVIL_GUEST = "<b>guest</b><br>"
EVIL_RULE = "<i>rule</i>"


def test_names_are_escaped_in_every_figure(viewer_client, cluster, make_host, make_guest):
    evil = make_host(EVIL_HOST)
    add_samples([evil], {EVIL_HOST: 99.0}, {EVIL_HOST: 1.0 * GIB})
    guest = make_guest(EVIL_GUEST, cluster.hosts[3])
    now = timezone.now()
    Migration.objects.create(
        guest=guest, source=evil, target=cluster.hosts[3], state=Migration.State.SUCCEEDED,
        requested_at=now - timedelta(minutes=5), started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=4),
    )
    rule = create_rule({"name": EVIL_RULE, "metric": "cpu.usage_active", "threshold": 50, "period": "2m"})

    overview = overview_figures(viewer_client)
    host_figure = viewer_client.get(reverse("dashboard:host", args=[evil.pk])).context["figures"]["chart-host"]
    rule_figure = viewer_client.get(reverse("dashboard:rule", args=[rule.pk])).context["figures"]["chart-rule"]
    texts = []
    for figure in (overview["chart-cpu"], overview["chart-mem"], host_figure, rule_figure):
        for trace in figure["data"]:
            texts += [str(x) for x in trace.get("x", [])] + [str(t) for t in trace.get("text", [])]
        texts += [note["text"] for note in figure["layout"]["annotations"]]
    joined = "\n".join(texts)
    for raw in (EVIL_HOST, EVIL_GUEST, EVIL_RULE):
        assert raw not in joined
    assert "&lt;a href=&quot;https://example.invalid&quot;&gt;evil&lt;/a&gt;" in joined
    assert "&lt;b&gt;guest&lt;/b&gt;&lt;br&gt; left for node-004" in joined
    assert "&lt;i&gt;rule&lt;/i&gt; &gt; 50%" in joined
