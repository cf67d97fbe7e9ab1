"""Plotly figures, built server-side as plain dicts.

Plain dicts rather than plotly.graph_objects: the browser's Plotly.js does
the validation anyway, and building objects for 1,000 bars every 10 s costs
more than the query behind them. The same dicts are embedded in the page
for the first draw and served as JSON for the in-place refresh
(``Plotly.react``), so both paths draw exactly the same chart.

Thresholds are layout shapes (horizontal lines), which Plotly.js draws into
the SVG's ``.shapelayer``; browser tests look for them there. On the overview a
line runs across every bar only for rules that watch every host; a rule that
watches some hosts marks its threshold on those hosts' bars only.

Plotly renders a subset of HTML in labels, hover text and annotations (<a>,
<b>, <br>…), so every name that comes from people (host, guest, rule) goes
through ``_text`` (html.escape) before it reaches a figure.
"""

from __future__ import annotations

import html
import math
from datetime import datetime

from django.utils import timezone

from automigrate import clock
from automigrate.engine.model import CPU, MEM
from automigrate.models import Migration, MigrationRule
from automigrate.services.series import Series
from automigrate.units import GIB
from dashboard.queries import HostRow, Watchers, strictest

COLOR_OK = "#3f6fa8"
COLOR_HOT = "#c8372d"
COLOR_THRESHOLD = "#c8372d"
COLOR_THRESHOLD_TEXT = "#a52a21"  # 4.5:1 or better on white, for the label text
COLOR_MEM = "#2f8f6f"
COLOR_ARRIVED = "#2b8a3e"
COLOR_LEFT = "#d9480f"
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12, "color": "#273142"}

# Beyond this many bars, names under the axis overlap into a black smear;
# hovering still tells which host a bar is.
MAX_TICK_LABELS = 40
MAX_RULE_BARS = 300
# Beyond this many hosts the overview shows the hottest TOP_HOSTS as bars and every host
# in a histogram beside them: 5,000 bars are sub-pixel and their hot few a sliver.
TOP_HOSTS = 60
HISTOGRAM_BINS = 20
BARS_DOMAIN = (0.0, 0.66)
HISTOGRAM_DOMAIN = (0.74, 1.0)


def _text(name: str) -> str:
    """A name as Plotly text: escaped, so '<b>x</b>' shows as typed instead of bold."""
    return html.escape(str(name))


def _time(value: datetime) -> str:
    """A time as Plotly reads it, in the server's time zone (the axis is labelled with it)."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def _base_layout(**extra) -> dict:
    layout = {
        "font": FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 56, "r": 16, "t": 28, "b": 40},
        "showlegend": False,
        "hovermode": "closest",
        "uirevision": "keep",  # Plotly.react keeps the user's zoom between refreshes
    }
    layout.update(extra)
    return layout


LABEL_ROW = 0.085  # paper height of one stacked threshold label


def _threshold_line(value: float, label: str, yref: str = "y", side: str = "right", row: int = 0,
                    top: float = 1.0) -> tuple[dict, dict]:
    """A dashed horizontal line across the plot at ``value``, and its label stacked above the plot.

    Labels sit in their own rows above the plot area (row 0, 1, …), never at the line itself:
    there two close thresholds' labels overlapped each other and the bars.
    """
    shape = {
        "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": yref, "y0": value, "y1": value,
        "line": {"color": COLOR_THRESHOLD, "width": 1.5, "dash": "dash"},
        "name": "threshold",
    }
    annotation = {
        "xref": "paper", "x": 1 if side == "right" else 0, "xanchor": side,
        "yref": "paper", "y": top + row * LABEL_ROW, "yanchor": "bottom",
        "text": f"- - {label}", "showarrow": False, "font": {"size": 11, "color": COLOR_THRESHOLD_TEXT},
    }
    return shape, annotation


def _plain_rule_label(rule: MigrationRule) -> str:
    sign = ">" if rule.metric == CPU else "<"
    return f"{rule.name} {sign} {rule.threshold_display}"


def _rule_label(rule: MigrationRule) -> str:
    return _text(_plain_rule_label(rule))


def _thresholds(
    rules: list[MigrationRule], metric: str, yref: str = "y", side: str = "right", top: float = 1.0
) -> tuple[list[dict], list[dict]]:
    """One line per distinct threshold, labelled (in its own row above the plot) with every rule using it."""
    by_value: dict[float, list[MigrationRule]] = {}
    for rule in rules:
        if rule.metric == metric:
            by_value.setdefault(rule.threshold, []).append(rule)
    shapes, annotations = [], []
    for row, (value, same) in enumerate(sorted(by_value.items())):
        scale = GIB if metric == MEM else 1
        shape, note = _threshold_line(value / scale, ", ".join(_rule_label(rule) for rule in same), yref, side,
                                      row=row, top=top)
        shapes.append(shape)
        annotations.append(note)
    return shapes, annotations


def _top_margin(annotations: list[dict]) -> int:
    """Room above the plot for the stacked threshold labels."""
    return 16 + 18 * max(1, len(annotations))


# Memory is drawn on a log scale: on a linear 0–430 GiB axis a 16G or 8G threshold sits on
# the axis and the hot host's bar is a sliver; on a log axis both are plainly visible.
MIN_LOG_GIB = 0.01


def _log_range(values: list[float], levels: list[float]) -> list[float]:
    """A log10 axis range that shows every bar and every threshold line, with some air."""
    shown = [max(v, MIN_LOG_GIB) for v in values + levels if v is not None]
    if not shown:
        return [math.log10(1), math.log10(1024)]
    return [math.log10(min(shown) / 2), math.log10(max(shown) * 2)]


def _mem_gib(value: float) -> float:
    return max(round(value / GIB, 3), MIN_LOG_GIB)


def _pct(value: float) -> str:
    return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %"


def bar_summary(names_values_hot: list[tuple[str, float, bool]], metric: str, thresholds: list[str]) -> str:
    """A chart's text alternative: "5 hosts, 2 over a threshold: node-001 85 %, node-002 4.0 GiB; thresholds …"."""
    count = len(names_values_hot)
    hot = [(name, value) for name, value, is_hot in names_values_hot if is_hot]
    def unit(value: float) -> str:
        return _pct(value) if metric == CPU else f"{value / GIB:.1f} GiB"

    what = "CPU busy" if metric == CPU else "available memory"
    text = f"{what}: {count} host{'s' if count != 1 else ''}"
    if not count:
        return text + ", no recent samples"
    if hot:
        listed = ", ".join(f"{name} {unit(value)}" for name, value in hot[:5])
        more = f" and {len(hot) - 5} more" if len(hot) > 5 else ""
        text += f", {len(hot)} past {'its' if len(hot) == 1 else 'their'} threshold: {listed}{more}"
    else:
        text += ", none past a threshold"
    if thresholds:
        text += f"; thresholds: {', '.join(thresholds)}"
    return text


def _covers_every_host(watching: Watchers, rows: list[HostRow]) -> list[MigrationRule]:
    """Rules that watch every host on the chart: no source hosts, or a list naming them all."""
    host_ids = {row.id for row in rows}
    listed: dict[int, set[int]] = {}
    for host_id, rules in watching.by_host.items():
        for rule in rules:
            listed.setdefault(rule.pk, set()).add(host_id)
    return [rule for rule in watching.rules if rule.pk not in listed or host_ids <= listed[rule.pk]]


def _row_threshold_markers(
    ordered: list[HostRow], metric: str, everywhere: list[MigrationRule], watching: Watchers, scale: float
) -> list[dict]:
    """A short red tick on each bar whose host has its own threshold, from rules watching only some hosts.

    Drawn where the host's strictest threshold differs from the strictest full-width line, so
    the tick marks exactly the level at which that bar turns red.
    """
    shared = strictest(everywhere, metric)
    full_width = {rule.pk for rule in everywhere}
    names, levels, labels = [], [], []
    for row in ordered:
        own = row.cpu_threshold if metric == CPU else row.mem_threshold
        if own is None or own == shared:
            continue
        partial = [rule for rule in watching.for_host(row.id) if rule.metric == metric and rule.pk not in full_width]
        if not partial:
            continue
        names.append(_text(row.name))
        levels.append(round(own / scale, 2))
        labels.append(", ".join(_rule_label(rule) for rule in partial))
    if not names:
        return []
    return [{
        "type": "scatter", "mode": "markers", "name": "host threshold",
        "x": names, "y": levels, "text": labels,
        "marker": {"symbol": "line-ew", "size": 16, "line": {"width": 2.5, "color": COLOR_THRESHOLD}},
        "hovertemplate": "%{x}<br>threshold %{text}<extra></extra>",
    }]


def hosts_bar(rows: list[HostRow], metric: str, watching: Watchers) -> dict:
    """Every host's current value as a bar, hottest first, thresholds as lines and ticks.

    A bar is red when its host crosses a rule that watches it (HostRow.cpu_hot / mem_hot).
    Rules watching every host are dashed lines across the chart; rules watching only some
    hosts are ticks on those hosts' bars, so no line suggests a threshold a host is not held to.
    """
    with_data = [row for row in rows if (row.cpu if metric == CPU else row.mem) is not None]
    if metric == CPU:
        ordered = sorted(with_data, key=lambda row: -row.cpu)
        values = [round(row.cpu, 2) for row in ordered]
        hot = [row.cpu_hot for row in ordered]
        yaxis = {"title": {"text": "CPU busy %"}, "range": [0, 100], "gridcolor": "#e6e9ef", "ticksuffix": "%"}
        hover = "%{x}<br>cpu.usage_active %{y:.1f}%<extra></extra>"
    else:
        ordered = sorted(with_data, key=lambda row: row.mem)
        values = [_mem_gib(row.mem) for row in ordered]
        hot = [row.mem_hot for row in ordered]
        levels = [row.mem_threshold / GIB for row in ordered if row.mem_threshold is not None]
        yaxis = {"title": {"text": "available GiB (log scale)"}, "type": "log", "range": _log_range(values, levels),
                 "dtick": 1, "gridcolor": "#e6e9ef"}
        hover = "%{x}<br>mem.available %{y:.1f} GiB<extra></extra>"
    everywhere = _covers_every_host(watching, rows)
    # The text alternative counts every host, not only the bars drawn.
    summary = bar_summary(
        [(row.name, row.cpu if metric == CPU else row.mem, is_hot) for row, is_hot in zip(ordered, hot, strict=True)],
        metric, [_plain_rule_label(rule) for rule in everywhere if rule.metric == metric],
    )
    histogram = None
    if len(ordered) > TOP_HOSTS:
        histogram = _histogram(ordered, values, hot, metric, everywhere)
        # The hot hosts first (a host's own threshold may make a cooler one hot), then the hottest.
        top = sorted(range(len(ordered)), key=lambda i: not hot[i])[:TOP_HOSTS]
        ordered, values, hot = [ordered[i] for i in top], [values[i] for i in top], [hot[i] for i in top]
    # Hottest first: CPU bars fall to the right, memory bars (lowest first) rise to the right.
    shapes, annotations = _thresholds(everywhere, metric, side="right" if metric == CPU else "left")
    markers = _row_threshold_markers(ordered, metric, everywhere, watching, GIB if metric == MEM else 1)
    figure = {
        "summary": summary,
        "data": [
            {
                "type": "bar",
                "name": metric,
                "x": [_text(row.name) for row in ordered],
                "y": values,
                "marker": {"color": [COLOR_HOT if is_hot else COLOR_OK for is_hot in hot]},
                "customdata": [" (settling after a batch)" if row.settling else "" for row in ordered],
                "hovertemplate": hover.replace("<extra>", "%{customdata}<extra>"),
            },
            *markers,
        ],
        "layout": _base_layout(
            height=250,
            bargap=0.12,
            margin={"l": 56, "r": 16, "t": _top_margin(annotations), "b": 40},
            xaxis={"type": "category", "showticklabels": len(ordered) <= MAX_TICK_LABELS, "tickangle": -40,
                   "automargin": True},
            yaxis=yaxis,
            shapes=shapes,
            annotations=annotations,
        ),
    }
    if histogram is not None:
        _beside(figure, histogram, len(with_data), metric)
    return figure


def _histogram(
    ordered: list[HostRow], values: list[float], hot: list[bool], metric: str, everywhere: list[MigrationRule]
) -> dict:
    """Every host's value binned (hot and not hot stacked), computed here: 40 numbers, not 5,000."""
    if metric == CPU:
        low, high = 0.0, 100.0
    else:
        low, high = 0.0, max(max(values), 1.0)
    width = (high - low) / HISTOGRAM_BINS
    hot_counts, ok_counts = [0] * HISTOGRAM_BINS, [0] * HISTOGRAM_BINS
    for value, is_hot in zip(values, hot, strict=True):
        index = min(HISTOGRAM_BINS - 1, max(0, int((value - low) / width)))
        (hot_counts if is_hot else ok_counts)[index] += 1
    centres = [round(low + (i + 0.5) * width, 3) for i in range(HISTOGRAM_BINS)]
    unit = "%" if metric == CPU else " GiB"
    hover = f"%{{x:.1f}}{unit} ± {width / 2:.1f}: %{{y}} hosts<extra>%{{fullData.name}}</extra>"
    scale = GIB if metric == MEM else 1
    lines = sorted({rule.threshold / scale for rule in everywhere if rule.metric == metric})
    return {
        "traces": [
            {"type": "bar", "name": "not hot", "x": centres, "y": ok_counts, "width": width * 0.95,
             "xaxis": "x2", "yaxis": "y2", "marker": {"color": COLOR_OK}, "hovertemplate": hover},
            {"type": "bar", "name": "hot", "x": centres, "y": hot_counts, "width": width * 0.95,
             "xaxis": "x2", "yaxis": "y2", "marker": {"color": COLOR_HOT}, "hovertemplate": hover},
        ],
        "shapes": [{
            "type": "line", "xref": "x2", "x0": value, "x1": value, "yref": "paper", "y0": 0, "y1": 1,
            "line": {"color": COLOR_THRESHOLD, "width": 1.5, "dash": "dash"}, "name": "threshold",
        } for value in lines],
        "axis_title": "CPU busy %" if metric == CPU else "available GiB",
        "range": [low, high],
    }


def _beside(figure: dict, histogram: dict, total: int, metric: str) -> None:
    """Put the histogram to the right of the top-N bars, in the same figure (one chart slot on the page)."""
    layout = figure["layout"]
    layout["xaxis"]["domain"] = list(BARS_DOMAIN)
    layout["xaxis"]["title"] = {"text": f"{'hottest' if metric == CPU else 'lowest'} {TOP_HOSTS} of {total:,} hosts"}
    # The threshold lines span the bars only; the histogram has its own, vertical.
    for shape in layout["shapes"]:
        shape["x1"] = BARS_DOMAIN[1]
    for note in layout["annotations"]:
        if note.get("x") == 1:
            note["x"] = BARS_DOMAIN[1]
    layout["shapes"] = layout["shapes"] + histogram["shapes"]
    layout["xaxis2"] = {"domain": list(HISTOGRAM_DOMAIN), "range": histogram["range"], "anchor": "y2",
                        "title": {"text": f"all {total:,} hosts: {histogram['axis_title']}"}}
    layout["yaxis2"] = {"anchor": "x2", "title": {"text": "hosts"}, "rangemode": "tozero", "gridcolor": "#e6e9ef"}
    layout["barmode"] = "stack"
    figure["data"] = figure["data"] + histogram["traces"]


def _migration_markers(host_id: int, migrations: list[Migration], y: float, yaxis: str) -> list[dict]:
    """Triangles on the CPU plot where guests arrived (▲) or left (▼)."""
    arrived: dict[str, list] = {"x": [], "text": []}
    left: dict[str, list] = {"x": [], "text": []}
    for migration in migrations:
        if migration.state != Migration.State.SUCCEEDED:
            continue
        when = migration.finished_at or migration.started_at
        if when is None:
            continue
        if migration.target_id == host_id:
            arrived["x"].append(_time(when))
            arrived["text"].append(f"{_text(migration.guest.name)} arrived from {_text(migration.source.name)}")
        else:
            left["x"].append(_time(when))
            left["text"].append(f"{_text(migration.guest.name)} left for {_text(migration.target.name)}")
    traces = []
    for name, points, symbol, color in (
        ("guest arrived", arrived, "triangle-up", COLOR_ARRIVED),
        ("guest left", left, "triangle-down", COLOR_LEFT),
    ):
        traces.append({
            "type": "scatter", "mode": "markers", "name": name, "yaxis": yaxis,
            "x": points["x"], "y": [y] * len(points["x"]), "text": points["text"],
            "marker": {"symbol": symbol, "size": 11, "color": color, "line": {"width": 1, "color": "#fff"}},
            "hovertemplate": "%{x}<br>%{text}<extra></extra>",
        })
    return traces


def host_timeseries(
    host_id: int,
    cpu: Series,
    mem: Series,
    rules: list[MigrationRule],
    migrations: list[Migration],
    start: datetime,
    end: datetime,
) -> dict:
    """CPU % above, available memory (log scale) below, on one shared time axis, thresholds and moves marked.

    The time axis starts at the first sample when the host has less history than the range:
    five minutes of data are not a sliver at the right of six empty hours.
    """
    cpu_shapes, cpu_notes = _thresholds(rules, CPU, "y", top=1.0)
    mem_shapes, mem_notes = _thresholds(rules, MEM, "y2", top=MEM_DOMAIN[1])
    mem_values = [_mem_gib(v) for v in mem.values]
    mem_levels = [rule.threshold / GIB for rule in rules if rule.metric == MEM]
    data = [
        {
            "type": "scatter", "mode": "lines", "name": "cpu.usage_active", "yaxis": "y",
            "x": [_time(t) for t in cpu.times], "y": [round(v, 2) for v in cpu.values],
            "line": {"color": COLOR_OK, "width": 1.6}, "fill": "tozeroy", "fillcolor": "rgba(63,111,168,0.10)",
            "hovertemplate": "%{x}<br>CPU %{y:.1f}%<extra></extra>",
        },
        {
            "type": "scatter", "mode": "lines", "name": "mem.available", "yaxis": "y2",
            "x": [_time(t) for t in mem.times], "y": mem_values,
            "line": {"color": COLOR_MEM, "width": 1.6},
            "hovertemplate": "%{x}<br>available %{y:.1f} GiB<extra></extra>",
        },
        # Markers ride just above 100 % so they never hide the CPU line.
        *_migration_markers(host_id, migrations, 104, "y"),
    ]
    firsts = [times[0] for times in (cpu.times, mem.times) if times]
    shown_start = start
    if firsts and min(firsts) > start:
        span = (end - min(firsts)) or (end - start)
        shown_start = max(start, min(firsts) - span * 0.05)
    tz = clock.zone_label()
    return {
        "summary": _host_summary(cpu, mem, rules, shown_start, end),
        "data": data,
        "layout": _base_layout(
            height=430,
            showlegend=True,
            legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
            margin={"l": 56, "r": 16, "t": _top_margin(cpu_notes), "b": 70},
            xaxis={"type": "date", "range": [_time(shown_start), _time(end)], "anchor": "y2",
                   "tickformat": "%H:%M<br>%Y-%m-%d", "hoverformat": "%Y-%m-%d %H:%M:%S",
                   "title": {"text": f"time ({tz})", "font": {"size": 11}}, "gridcolor": "#eef0f4"},
            yaxis={"domain": list(CPU_DOMAIN), "range": [0, 108], "tickvals": [0, 25, 50, 75, 100],
                   "ticksuffix": "%", "title": {"text": "CPU busy"}, "gridcolor": "#e6e9ef"},
            yaxis2={"domain": list(MEM_DOMAIN), "type": "log", "range": _log_range(mem_values, mem_levels), "dtick": 1,
                    "title": {"text": "available GiB (log)"}, "gridcolor": "#e6e9ef"},
            shapes=cpu_shapes + mem_shapes,
            annotations=cpu_notes + mem_notes,
        ),
    }


CPU_DOMAIN = (0.6, 1.0)
MEM_DOMAIN = (0.0, 0.4)  # the gap above it holds the memory threshold labels


def _host_summary(cpu: Series, mem: Series, rules: list[MigrationRule], start: datetime, end: datetime) -> str:
    """The host chart as one sentence: latest values, peaks, thresholds."""
    span = f"from {clock.show(start)} to {clock.show(end)}"
    if not cpu.values and not mem.values:
        return f"No samples {span}."
    parts = []
    if cpu.values:
        parts.append(f"CPU now {_pct(cpu.values[-1])}, peak {_pct(max(cpu.values))}")
    if mem.values:
        parts.append(f"available memory now {mem.values[-1] / GIB:.1f} GiB, lowest {min(mem.values) / GIB:.1f} GiB")
    limits = [_plain_rule_label(rule) for rule in rules]
    text = f"{'; '.join(parts)} ({span})"
    return text + (f"; thresholds: {', '.join(limits)}." if limits else "; no rule watches this host.")


def rule_hosts_bar(rule: MigrationRule, means: list[tuple[str, float, bool]]) -> dict:
    """Watched hosts' means over the rule's own window against its threshold, nearest to firing first.

    ``means`` holds (host name, mean, whether the rule fires on it), the last as the engine decides.
    """
    is_cpu = rule.metric == CPU
    ordered = sorted(means, key=lambda item: -item[1] if is_cpu else item[1])[:MAX_RULE_BARS]
    values = [round(value, 2) if is_cpu else _mem_gib(value) for _, value, _ in ordered]
    hot = [fires for _, _, fires in ordered]
    scale = 1 if is_cpu else GIB
    shape, note = _threshold_line(rule.threshold / scale, _rule_label(rule), side="right" if is_cpu else "left")
    unit = "%" if is_cpu else " GiB"
    yaxis = (
        {"title": {"text": "CPU busy %"}, "range": [0, 100], "ticksuffix": "%", "gridcolor": "#e6e9ef"}
        if is_cpu
        else {"title": {"text": "available GiB (log scale)"}, "type": "log", "gridcolor": "#e6e9ef", "dtick": 1,
              "range": _log_range(values, [rule.threshold / GIB])}
    )
    return {
        "summary": bar_summary(list(ordered), rule.metric, [_plain_rule_label(rule)])
        + f" (means over {rule.period_display})",
        "data": [{
            "type": "bar", "name": f"mean over {rule.period_display}",
            "x": [_text(name) for name, _, _ in ordered], "y": values,
            "marker": {"color": [COLOR_HOT if is_hot else COLOR_OK for is_hot in hot]},
            "hovertemplate": "%{x}<br>%{y:.1f}" + unit + f" (mean over {rule.period_display})<extra></extra>",
        }],
        "layout": _base_layout(
            height=260,
            bargap=0.12,
            margin={"l": 56, "r": 16, "t": _top_margin([note]), "b": 40},
            xaxis={"type": "category", "showticklabels": len(ordered) <= MAX_TICK_LABELS, "tickangle": -40,
                   "automargin": True},
            yaxis=yaxis,
            shapes=[shape],
            annotations=[note],
        ),
    }


# --- backtest (automigrate.services.backtest) ---------------------------------------

COLOR_WITHOUT = COLOR_HOT
BACKTEST_MAX_POINTS = 2000
COLOR_OTHER_POLICY = "#7b8794"


def backtest_hosts_over(result: dict) -> dict:
    """Hosts above the threshold at each step of a backtest: without the rule ("none") and with it, per policy."""
    from datetime import timedelta

    from automigrate.services.backtest import LIVE_POLICY, WITHOUT_RULE

    start = datetime.fromisoformat(result["start"])
    # A week of 1-minute steps is 10,080 points a line: draw at most BACKTEST_MAX_POINTS, each the
    # most hosts above the threshold in its bucket, so no peak disappears.
    bucket = max(1, math.ceil(result["steps"] / BACKTEST_MAX_POINTS))
    step = timedelta(seconds=result["step_seconds"] * bucket)
    times = [_time(start + k * step) for k in range(math.ceil(result["steps"] / bucket))]
    rows = {row["policy"]: row for row in result["policies"]}
    traces = []
    for policy, all_counts in result["hosts_over_threshold"].items():
        counts = [max(all_counts[k:k + bucket]) for k in range(0, len(all_counts), bucket)]
        if policy == WITHOUT_RULE:
            name, color, width = "without the rule", COLOR_WITHOUT, 2
        elif policy == LIVE_POLICY:
            name, color, width = f"with the rule ({policy})", COLOR_OK, 2.5
        else:
            name, color, width = f"policy {policy}", COLOR_OTHER_POLICY, 1.2
        traces.append({
            "type": "scatter", "mode": "lines", "name": _text(name), "x": times, "y": counts,
            "line": {"color": color, "width": width, "shape": "hv", **({} if width >= 2 else {"dash": "dot"})},
            "hovertemplate": f"%{{x}}<br>%{{y}} hosts above {result['threshold']:g} %<extra>{_text(name)}</extra>",
        })
    most = max((max(counts, default=0) for counts in result["hosts_over_threshold"].values()), default=0)
    layout = _base_layout(
        showlegend=True, legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, hovermode="x unified",
        margin={"l": 56, "r": 16, "t": 36, "b": 48},
        xaxis={"type": "date", "title": {"text": f"time ({timezone.get_current_timezone_name()})"}},
        # Whole hosts: a tick per host while there are few, never 0.5 of one.
        yaxis={"title": {"text": f"hosts above {result['threshold']:g} %"}, "rangemode": "tozero",
               "tickformat": "d", **({"dtick": 1} if most <= 10 else {})},
    )
    parts = [
        f"{'without the rule' if policy == WITHOUT_RULE else policy}:"
        f" {rows[policy]['overload_host_minutes']:g} overload host-minutes"
        for policy in result["hosts_over_threshold"]
    ]
    drawn = f" (most per {bucket} steps drawn)" if bucket > 1 else ""
    summary = (f"Hosts above {result['threshold']:g} % over {result['steps']} steps of {result['step_seconds']} s"
               f"{drawn}; " + ", ".join(parts))
    return {"data": traces, "layout": layout, "summary": summary}
