"""`manage.py backtest RULE`: what the rule would have done over this cluster's last days.

    backtest RULE [--since 7d] [--until TIME] [--policy P]... [--step 5m] [--json] [--export-trace FILE]

Thin: the history, the placement and the replays are automigrate.services.backtest. Read-only:
nothing is migrated or recorded. Every bad argument is one line on stderr, exit status 2.
"""

from __future__ import annotations

import json
from datetime import UTC

from django.conf import settings

from automigrate.management.commands.migrationalert import (
    BadArgument,
    OneLineErrorCommand,
    format_table,
    printable,
)
from automigrate.models import MigrationRule
from automigrate.services import backtest
from automigrate.services import rules as rule_service
from automigrate.simulator.replay import POLICIES
from automigrate.units import format_period


class Command(OneLineErrorCommand):
    help = (
        "Replay a rule over this cluster's recorded history (guest CPU samples, placement rebuilt from the"
        " migration records) under each policy, through the same replay as `simulate`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("rule", help="rule id or name")
        parser.add_argument("--since", default="7d", help="how far back, e.g. 12h, 1d, 7d (default 7d, at most 31d)")
        parser.add_argument("--until", default=None,
                            help="end of the window, ISO 8601 (no zone: UTC; default now), e.g. 2026-12-01T18:00")
        parser.add_argument("--policy", action="append", default=None,
                            help=f"replay only this policy (repeatable; default all: {', '.join(POLICIES)};"
                                 " none, without the rule, is always replayed)")
        parser.add_argument("--step", default=None,
                            help="resampling step: "
                                 f"{', '.join(format_period(s) for s in backtest.STEP_CHOICES)}"
                                 " (default: the finest that fits in memory)")
        parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
        parser.add_argument("--export-trace", default=None, metavar="FILE",
                            help="write the history as a simulate JSON trace to FILE and replay nothing")

    def handle(self, *args, **options) -> None:
        rule = self._rule(options["rule"])
        since = self._parsed(backtest.parse_since, options["since"], "--since")
        step = self._parsed(backtest.parse_step, options["step"], "--step") if options["step"] else None
        policies = self._parsed(backtest.check_policies, options["policy"], "--policy")
        until = self._parsed(backtest.parse_until, options["until"], "--until") if options["until"] else None
        try:
            if options["export_trace"]:
                self._export(rule, since, step, until, options["export_trace"])
                return
            outcome = backtest.run(rule, since, policies, step, now=until)
        except backtest.BacktestError as exc:
            raise BadArgument(f"backtest: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(outcome.to_dict()))
        else:
            self.stdout.write(summary(outcome))

    @staticmethod
    def _rule(id_or_name: str) -> MigrationRule:
        try:
            return rule_service.find_rule(id_or_name)
        except MigrationRule.DoesNotExist as exc:
            raise BadArgument(f"RULE: {exc}: see `migrationalert list`") from None
        except rule_service.AmbiguousRule as exc:
            raise BadArgument(f"RULE: {exc}") from None

    @staticmethod
    def _parsed(parse, value, option: str):
        try:
            return parse(value)
        except ValueError as exc:
            raise BadArgument(f"{option}: {exc}") from None

    def _export(self, rule: MigrationRule, since: int, step: int | None, until, path: str) -> None:
        backtest.check_rule(rule)
        history = backtest.read_history(since, step, now=until)
        try:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(backtest.trace_json(history), out)
        except OSError as exc:
            raise BadArgument(f"--export-trace {path}: cannot write: {exc.strerror}") from None
        self.stdout.write(
            f"wrote {len(history.trace.guests)} guests x {history.trace.steps} steps to {printable(path)};"
            f" replay it with manage.py simulate --trace {printable(path)} --threshold {rule.threshold:g}"
            f" --period {rule.period_seconds}s --policy {backtest.LIVE_POLICY}"
            + (" --forecast" if settings.AUTOMIGRATE.get("FORECAST") else "")
        )


def summary(outcome: backtest.Backtest) -> str:
    history = outcome.history
    trace = history.trace
    rows = [
        [r.policy + (" (without the rule)" if r.policy == backtest.WITHOUT_RULE else ""),
         f"{r.overload_host_minutes:.1f}", r.migrations, f"{r.migrated_gib:.1f}", r.ping_pongs]
        for r in outcome.results
    ]
    start, end = history.start.astimezone(UTC), history.end.astimezone(UTC)
    return "\n".join([
        f"Backtest of rule {printable(outcome.rule)} ({printable(outcome.condition)})",
        f"  {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: {trace.steps} steps of"
        f" {format_period(history.step_seconds)}, {len(trace.hosts)} hosts, {len(trace.guests)} guests",
        format_table(["policy", "overload host-minutes", "migrations", "GiB copied", "ping-pongs"], rows),
        *(f"  {note}" for note in outcome.notes),
        f"  replayed in {outcome.seconds:.2f} s",
    ])
