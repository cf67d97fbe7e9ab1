"""`manage.py simulate`: replay a VM trace through a policy and print how it did.

Thin: reading traces and the replay loop live in ``automigrate.simulator``;
this command parses options, takes tuning, caps and bandwidth from
``settings.AUTOMIGRATE`` (so a what-if run behaves like the live evaluator),
and prints. Every failure is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from automigrate.engine.registry import descriptions
from automigrate.services.snapshot import tuning_from_settings
from automigrate.simulator.replay import ORACLE, POLICIES, ReplayConfig, ReplayResult, replay
from automigrate.simulator.traces import TraceError, build_cluster, read_trace, with_groups
from automigrate.units import parse_period


class UsageError(Exception):
    """A bad option value; its message is the whole user-facing line."""


class Command(BaseCommand):
    help = (
        "Replay a VM CPU trace (our JSON, a GWA-T-12 Bitbrains folder or a PlanetLab folder) in "
        "simulated time through a balancing policy, and report overload host-minutes and migration cost."
    )

    def add_arguments(self, parser) -> None:
        # Values are parsed in handle() so that a bad one gives one line, not argparse's usage block.
        parser.add_argument("--trace", required=True, help="JSON file, or a Bitbrains / PlanetLab folder")
        parser.add_argument("--policy", default="automigrate", help=f"one of {', '.join(POLICIES)}: " + "; ".join(
            [*(f"{name}, {text}" for name, text in descriptions().items()),
             f"{ORACLE}, automigrate planning on the next window's true means (sees the future)",
             "none, never migrates"]))
        parser.add_argument("--threshold", default="60", help="host CPU %% that counts as overloaded (default 60)")
        parser.add_argument("--period", default="10m", help="rule period and averaging window (default 10m)")
        parser.add_argument("--hosts", default=None, help="host count for traces without hosts (default: ~40%% CPU)")
        parser.add_argument("--seed", default="0", help="seed for placement, VM sizes and failures (default 0)")
        parser.add_argument("--bandwidth", default=None, help="migration bandwidth in MB/s (default from settings)")
        parser.add_argument("--failure-probability", default="0", help="chance a migration fails (default 0)")
        parser.add_argument("--groups", default=None,
                            help='JSON file {"groups": [...]} of placement groups (scenario format) to keep')
        parser.add_argument("--forecast", action="store_true",
                            help="give the engine each host's forecast of the next window, from the replay's"
                                 " own history (as AUTOMIGRATE_FORECAST does live)")
        parser.add_argument("--json", action="store_true", help="print exactly one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            config, hosts = self._config(options)
            started = time.perf_counter()
            trace = build_cluster(read_trace(options["trace"], seed=config.seed), hosts=hosts, seed=config.seed)
            if options["groups"]:
                trace = with_groups(trace, options["groups"])
            result = replay(trace, config)
            elapsed = time.perf_counter() - started
        except (TraceError, UsageError) as exc:
            self.stderr.write(f"simulate: {exc}")
            sys.exit(2)
        if options["json"]:
            self.stdout.write(json.dumps(result.to_dict()))
        else:
            self.stdout.write(_summary(result, trace.kind, elapsed))

    def _config(self, options: dict) -> tuple[ReplayConfig, int | None]:
        conf = getattr(settings, "AUTOMIGRATE", {})
        policy = options["policy"]
        if policy not in POLICIES:
            raise UsageError(f"--policy {policy!r}: use one of {', '.join(POLICIES)}")
        try:
            period = parse_period(options["period"])
        except ValueError as exc:
            raise UsageError(f"--period: {exc}") from None
        threshold = _number(options["threshold"], "--threshold", float, 0, 100)
        hosts = None if options["hosts"] is None else _number(options["hosts"], "--hosts", int, 1, None)
        seed = _number(options["seed"], "--seed", int, None, None)
        bandwidth = options["bandwidth"] or conf.get("SIM_BANDWIDTH_MB_PER_S", 400)
        return ReplayConfig(
            policy=policy,
            threshold=threshold,
            period_seconds=period,
            seed=seed,
            tuning=tuning_from_settings(),  # the evaluator's own mapping
            bandwidth_mb_per_s=_number(bandwidth, "--bandwidth", float, 1e-9, None),
            max_in_flight=int(conf.get("MAX_IN_FLIGHT", 4)),
            max_in_flight_per_host=int(conf.get("MAX_IN_FLIGHT_PER_HOST", 2)),
            failure_probability=_number(options["failure_probability"], "--failure-probability", float, 0, 1),
            timeout_base_seconds=float(conf.get("MIGRATION_TIMEOUT_BASE_SECONDS", 120)),
            timeout_seconds_per_gib=float(conf.get("MIGRATION_TIMEOUT_SECONDS_PER_GIB", 60)),
            forecast=bool(options["forecast"]),
            forecast_history_windows=int(conf.get("FORECAST_HISTORY_WINDOWS", 6)),
        ), hosts


def _number(text, option: str, kind: type, low: float | None, high: float | None):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option} {text!r}: expected a {'whole ' if kind is int else ''}number") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise UsageError(f"{option} {text!r}: must be {bounds}")
    return value


def _summary(r: ReplayResult, kind: str, elapsed: float) -> str:
    return "\n".join([
        f"Policy {r.policy} on {r.trace} ({kind})",
        f"  {r.steps} steps of {r.step_seconds} s, {r.hosts} hosts, {r.guests} guests, threshold {r.threshold} %",
        f"  overload host-minutes  {r.overload_host_minutes:.1f}",
        f"  peak host CPU          {r.peak_host_cpu:.1f} %",
        f"  mean host CPU stddev   {r.mean_host_cpu_stddev:.1f}",
        f"  migrations             {r.migrations} ({r.migrated_gib:.1f} GiB copied, {r.failed_migrations} failed)",
        f"  GiB off unrelieved     {r.gib_off_unrelieved:.1f} (moves off hosts their plan leaves over the threshold)",
        f"  ping-pongs             {r.ping_pongs}",
        f"  find_result_fail       {r.find_result_fail}",
        *([f"  groups                 {r.groups} ({r.repaired_at_start} moves to place by them at the start,"
           f" {r.must_violations_at_end} must violations at the end)"] if r.groups else []),
        f"  simulated in {elapsed:.2f} s",
    ])
