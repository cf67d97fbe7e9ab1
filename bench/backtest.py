"""How long a backtest takes: reading and resampling the history, then replaying each policy.

    .venv/bin/python bench/backtest.py                      # the four cases of BENCHMARKS.md
    .venv/bin/python bench/backtest.py --hosts 12 --guests 100 --days 1 --sample-seconds 10

Each case runs in a process of its own (so its peak memory is its own) against a PostgreSQL
database of its own (BENCH_BACKTEST_DATABASE_URL, default am_backtest_bench), filled by one
INSERT ... SELECT generate_series per case: guests with a daily wave and noise, 4 vCPUs and
4 GiB each on 32-core hosts, and one successful migration per 20 guests in the window to walk
back. Prints the figures; timings are never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/am_backtest_bench"
CASES = (  # hosts, guests, days, sample seconds
    (12, 100, 1, 10), (12, 100, 7, 10),
    (200, 4000, 1, 60), (200, 4000, 7, 60),
)


def fill(hosts: int, guests: int, days: int, sample_seconds: int) -> int:
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from automigrate.models import Guest, GuestSample, Host, HostSample, Migration
    from automigrate.services.bulk import insert_rows

    for model in (GuestSample, HostSample, Migration, Guest, Host):
        model.objects.all().delete()
    now = timezone.now()
    insert_rows(Host, ("name", "cpu_count", "mem_total", "enabled", "status", "labels", "host_type", "cpu_arch",
                       "external_id", "created_at", "updated_at"),
                [(f"bh-{i:04d}", 32, 256 * 1024**3, True, "online", "[]", "kvm", "x86_64", "", now, now)
                 for i in range(hosts)], json_fields=("labels",))
    host_ids = list(Host.objects.order_by("name").values_list("pk", flat=True))
    insert_rows(Guest, ("name", "host_id", "vcpu_count", "vmem_size", "status", "labels", "workload", "external_id",
                        "created_at", "updated_at"),
                [(f"bg-{i:05d}", host_ids[i % hosts], 4, 4096, "running", "[]", "{}", "", now, now)
                 for i in range(guests)], json_fields=("labels", "workload"))
    start = now - timedelta(days=days)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")  # the fill only: the backtest keeps the default
        # A daily wave (phase per guest) around a level per guest, plus noise: some hosts cross 60 %.
        cursor.execute(
            """INSERT INTO automigrate_guestsample (guest_id, time, cpu)
               SELECT g.id, t, LEAST(100, GREATEST(0,
                   20 + (g.id %% 5) * 8 + 25 * sin(2 * pi() * (extract(epoch from t) / 86400 + (g.host_id %% 6) / 6.0))
                   + random() * 10))
               FROM automigrate_guest g, generate_series(%s::timestamptz, %s::timestamptz, %s::interval) t""",
            [start, now, f"{sample_seconds} seconds"],
        )
        rows = cursor.rowcount
        cursor.execute("ANALYZE automigrate_guestsample")
    guest_rows = list(Guest.objects.order_by("pk").values_list("pk", "host_id"))
    moves = []
    for n, (guest_id, host_id) in enumerate(guest_rows[::20]):
        at = start + timedelta(seconds=(n * 7919) % (days * 86400))
        source = host_ids[(host_ids.index(host_id) + 1) % hosts]
        moves.append(Migration(guest_id=guest_id, source_id=source, target_id=host_id, state="succeeded",
                               requested_at=at, started_at=at, finished_at=at))
    Migration.objects.bulk_create(moves)
    return rows


def case(hosts: int, guests: int, days: int, sample_seconds: int) -> dict:
    from bench.benchdb import setup_django

    setup_django(os.environ.get("BENCH_BACKTEST_DATABASE_URL", DEFAULT_URL))
    from automigrate.engine.model import CPU
    from automigrate.models import MigrationRule
    from automigrate.services import backtest

    started = time.perf_counter()
    rows = fill(hosts, guests, days, sample_seconds)
    filled = time.perf_counter() - started
    rule, _ = MigrationRule.objects.get_or_create(name="bench-cpu", defaults={
        "metric": CPU, "threshold": 60, "period_seconds": 600})
    since = days * 86400
    started = time.perf_counter()
    history = backtest.read_history(since)
    read = time.perf_counter() - started
    outcome = backtest.run(rule, since)
    return {
        "hosts": hosts, "guests": guests, "days": days, "sample_seconds": sample_seconds, "sample_rows": rows,
        "fill_seconds": round(filled, 1), "step_seconds": history.step_seconds, "steps": history.trace.steps,
        "read_seconds": round(read, 1), "backtest_seconds": round(outcome.seconds, 1),
        "replay_seconds": round(outcome.seconds - read, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "overload": {r.policy: r.overload_host_minutes for r in outcome.results},
        "migrations": {r.policy: r.migrations for r in outcome.results},
    }


def replay_only(hosts: int, guests: int, days: int) -> dict:
    """The replays alone, on a synthetic history of the same shape (no database): sizes too long to fill."""
    import math
    import random

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automigrate.settings")
    django.setup()
    from automigrate.services import backtest
    from automigrate.simulator import replay as replayer
    from automigrate.simulator.traces import GuestTrace, HostSpec, Trace

    since = days * 86400
    step = backtest.choose_step(since, guests)
    steps = since // step
    rng = random.Random(0)
    started = time.perf_counter()
    host_specs = tuple(HostSpec(f"bh-{i:04d}", 32, 256 * 1024**3) for i in range(hosts))

    def cpu(g: int, k: int) -> float:  # the fill's wave: a level per guest, a daily wave per host, noise
        wave = 25 * math.sin(2 * math.pi * (k * step / 86400 + (g % hosts % 6) / 6))
        return round(min(100.0, max(0.0, 20 + (g % 5) * 8 + wave + rng.random() * 10)), 4)

    trace = Trace("synthetic", "history", step, host_specs, tuple(
        GuestTrace(f"bg-{g:05d}", 4, 4096, tuple(cpu(g, k) for k in range(steps)), host=f"bh-{g % hosts:04d}")
        for g in range(guests)))
    built = time.perf_counter() - started
    timings = {}
    for policy in replayer.POLICIES:
        started = time.perf_counter()
        result = replayer.replay(trace, backtest.replay_config(policy, 60.0, 600))
        timings[policy] = (round(time.perf_counter() - started, 1), result.overload_host_minutes, result.migrations)
    return {"hosts": hosts, "guests": guests, "days": days, "step_seconds": step, "steps": steps,
            "build_seconds": round(built, 1), "replays": timings,
            "replay_seconds": round(sum(t for t, _, _ in timings.values()), 1),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int)
    parser.add_argument("--guests", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--sample-seconds", type=int, default=60)
    parser.add_argument("--replay-only", action="store_true", help="no database: the replays of a synthetic history")
    args = parser.parse_args()
    if args.replay_only:
        print(json.dumps(replay_only(args.hosts, args.guests, args.days)))
        return
    if args.hosts:
        print(json.dumps(case(args.hosts, args.guests, args.days, args.sample_seconds)))
        return
    print("| hosts / guests | days | sample interval | sample rows | step | read + resample | replays (all policies)"
          " | whole backtest | peak memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    for hosts, guests, days, sample_seconds in CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--hosts", str(hosts), "--guests", str(guests), "--days", str(days),
             "--sample-seconds", str(sample_seconds)], capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {hosts} / {guests} | {days} | {sample_seconds} s | {r['sample_rows']:,} | {r['step_seconds']} s"
              f" ({r['steps']} steps) | {r['read_seconds']} s | {r['replay_seconds']} s | {r['backtest_seconds']} s"
              f" | {r['peak_rss_mib']} MiB |", flush=True)
        print(f"<!-- {json.dumps(r)} -->", flush=True)


if __name__ == "__main__":
    main()
