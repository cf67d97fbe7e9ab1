"""The overview at thousands of hosts: the hottest few as bars, every host in a histogram beside them."""

import json

from automigrate.engine.model import CPU, MEM
from automigrate.models import MigrationRule
from dashboard import charts
from dashboard.queries import HostRow, Watchers

GIB = 1024**3


def _rows(n: int, own_threshold_host: int | None = None) -> list[HostRow]:
    rows = []
    for i in range(n):
        cpu = (i * 37) % 100 + 0.5  # spread over 0..100
        threshold = 99.0
        if i == own_threshold_host:
            cpu, threshold = 10.5, 5.0  # cool, but over its own low threshold: hot
        rows.append(HostRow(id=i, name=f"h{i:05d}", cpu_count=32, mem_total=256 * GIB, status="online",
                            enabled=True, guest_count=3, cpu=cpu, mem=(i % 200) * GIB, cpu_threshold=threshold,
                            mem_threshold=16 * GIB, rule_names=["r"]))
    return rows


def _watching() -> Watchers:
    cpu_rule = MigrationRule(pk=1, name="cpu", metric=CPU, threshold=99.0, period_seconds=120)
    mem_rule = MigrationRule(pk=2, name="mem", metric=MEM, threshold=16 * GIB, period_seconds=120)
    return Watchers(rules=[cpu_rule, mem_rule], everywhere=[cpu_rule, mem_rule], by_host={})


def test_five_thousand_hosts_show_the_hot_ones_first_and_all_in_the_histogram():
    rows = _rows(5000, own_threshold_host=4321)
    figure = charts.hosts_bar(rows, CPU, _watching())
    bars, *rest = figure["data"]
    assert len(bars["x"]) == charts.TOP_HOSTS
    hot = [row for row in rows if row.cpu_hot]
    # Every hot host has its bar, the one held to its own low threshold too (10.5 % would rank
    # far below the hottest), and the hottest of the rest fill the remaining bars.
    assert len(hot) == 51 and {row.name for row in hot} <= set(bars["x"]) and "h04321" in bars["x"]
    assert bars["marker"]["color"].count(charts.COLOR_HOT) == 51
    histogram = {trace["name"]: trace for trace in rest if trace.get("xaxis") == "x2"}
    assert sum(histogram["hot"]["y"]) == len(hot)
    assert sum(histogram["hot"]["y"]) + sum(histogram["not hot"]["y"]) == 5000
    assert figure["layout"]["xaxis2"]["title"]["text"].startswith("all 5,000 hosts")
    # The threshold: a horizontal line over the bars only, and a vertical one in the histogram at 99 %.
    lines = figure["layout"]["shapes"]
    assert [s["x1"] for s in lines if s["xref"] == "paper"] == [charts.BARS_DOMAIN[1]]
    assert [s["x0"] for s in lines if s["xref"] == "x2"] == [99.0]
    assert len(json.dumps(figure)) < 20_000


def test_memory_bins_cover_every_host():
    figure = charts.hosts_bar(_rows(300), MEM, _watching())
    binned = [trace for trace in figure["data"] if trace.get("xaxis") == "x2"]
    assert sum(sum(trace["y"]) for trace in binned) == 300
    assert figure["layout"]["xaxis2"]["range"][0] == 0


def test_a_small_cluster_keeps_one_bar_per_host():
    figure = charts.hosts_bar(_rows(charts.TOP_HOSTS), CPU, _watching())
    assert len(figure["data"][0]["x"]) == charts.TOP_HOSTS and "xaxis2" not in figure["layout"]
