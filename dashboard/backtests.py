"""The rule page's backtest card: the latest run, its table and chart (automigrate.services.backtest)."""

from __future__ import annotations

from automigrate.engine.model import CPU
from automigrate.models import BacktestRun, MigrationRule
from automigrate.services import backtest
from automigrate.units import format_period
from dashboard import charts

# What the page offers (the command line takes any --since up to 31 days).
SINCE_CHOICES = ("1h", "6h", "1d", "7d")
DEFAULT_SINCE = "1d"
FIGURE_ID = "chart-backtest"


def run_context(run: BacktestRun | None) -> dict:
    """The part of the card the page polls: state and progress, then the table and figure."""
    context: dict = {"backtest": run, "backtest_rows": [], "backtest_figure": None}
    if run is None or run.state != BacktestRun.State.DONE or not run.result:
        return context
    result = run.result
    context["backtest_rows"] = [
        {**row, "without": row["policy"] == backtest.WITHOUT_RULE, "live": row["policy"] == backtest.LIVE_POLICY}
        for row in result["policies"]
    ]
    context["backtest_step"] = format_period(result["step_seconds"])
    context["backtest_figure"] = charts.backtest_hosts_over(result)
    return context


def rule_context(rule: MigrationRule) -> dict:
    context = run_context(backtest.latest_run(rule))
    context.update({
        "backtest_supported": rule.metric == CPU,
        "backtest_since_choices": SINCE_CHOICES,
        "backtest_default_since": DEFAULT_SINCE,
    })
    return context
