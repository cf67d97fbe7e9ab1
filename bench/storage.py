"""Sample storage on PostgreSQL before and after issue 17: bytes per host-day and the time to prune a day.

    .venv/bin/python bench/storage.py [--hosts 1000 --guests 20000 --minutes 60]

Two databases of their own, created afresh each run:

* ``old``: migrated to 0011 (the schema before: surrogate ids, (metric, time) and
  (host, metric, time) indexes plus the foreign-key indexes, one plain table each);
* ``new``: migrated to the newest (keyed by (host, metric, time) / (guest, time),
  a BRIN time index, daily partitions; 1-/5-minute roll-ups).

Each gets the same simulated cluster and ``--minutes`` of 10-s rounds (one
round of the simulator's samples, re-stamped every 10 s, written the way the
simulator and /write write: COPY, ``services.bulk`` / ``services.storage``).
The rounds are stamped in one UTC day in the past, so in ``new`` they fill one
daily partition. Then:

* bytes per host-day: pg_total_relation_size (heap + indexes + TOAST) of the
  sample tables, all partitions summed, per host per day of samples
  (extrapolated linearly from the minutes written: the per-row size is constant);
* the roll-ups of that data (``services.rollups.roll_up``, timed) and their bytes;
* the steady-state footprint for the default 8 days of history: ``old`` keeps 8
  days of raw samples; ``new`` keeps raw samples for the longest window plus the
  margin (35 min with the default rules: 5-min placement window + 30 min) in whole
  partitions, 1-minute roll-ups for 2 days and 5-minute roll-ups for 8;
* pruning: ``old`` one DELETE of the rows (as prune_samples did), then the VACUUM it
  needs; ``new`` DROP of the partition (services.partitions.drop_before). The DELETE
  is extrapolated to a day from the minutes written; a DROP does not depend on the
  rows in the partition (it unlinks its files).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from benchdb import ROOT, ensure_database

BASE_URL = "postgres://postgres@127.0.0.1:5432/am_storage_bench"
HISTORY_DAYS = 8
MINUTE_DAYS = 2
RAW_RETENTION_MINUTES = 35
STEP = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", BASE_URL),
                        help="base URL; _old and _new are appended to the database name")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--guests", type=int, default=20000)
    parser.add_argument("--minutes", type=int, default=60, help="minutes of 10-s samples written")
    parser.add_argument("--phase", choices=["old", "new"], help=argparse.SUPPRESS)
    return parser.parse_args()


def recreate(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    name = url.rsplit("/", 1)[1]
    connection = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    connection.close()
    ensure_database(url)


def setup(url: str, phase: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automigrate.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["AUTOMIGRATE_ROLLUP_TIME_BUDGET_SECONDS"] = "3600"
    os.environ["DATABASE_STATEMENT_TIMEOUT_SECONDS"] = "0"  # the old DELETE and VACUUM of a day take minutes
    import django

    django.setup()
    from django.core.management import call_command

    if phase == "old":
        call_command("migrate", "automigrate", "0011_scale_indexes", verbosity=0)
    else:
        call_command("migrate", verbosity=0)


def size(tables: list[str]) -> int:
    """Bytes of the tables with their indexes, partitions included."""
    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT pg_total_relation_size(%s::regclass) + COALESCE((SELECT SUM(pg_total_relation_size(inhrelid))"
                " FROM pg_inherits WHERE inhparent = %s::regclass), 0)", [table, table])
            total += int(cursor.fetchone()[0])
    return total


def index_share(tables: list[str]) -> float:
    from django.db import connection

    heap = 0
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT COALESCE(SUM(pg_table_size(c.oid)), 0) FROM pg_class c WHERE c.oid = %s::regclass"
                " OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)", [table, table])
            heap += int(cursor.fetchone()[0])
    total = size(tables)
    return 1 - heap / total if total else 0.0


def phase(args: argparse.Namespace) -> dict:
    url = f"{args.database_url}_{args.phase}"
    recreate(url)
    setup(url, args.phase)
    from django.db import connection, transaction

    from automigrate.models import GuestSample, HostSample
    from automigrate.services import bulk, storage
    from automigrate.simulator import cluster

    cluster.seed_cluster(hosts=args.hosts, guests=args.guests, seed=1, prefix="bench")
    inventory = cluster._inventory()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    start = day + timedelta(hours=1)
    host_rows, guest_rows = cluster._samples(inventory, start)
    rounds = args.minutes * 60 // STEP
    write_times = []
    for i in range(rounds):
        at = start + timedelta(seconds=STEP * i)
        hosts = [(h, m, at, v) for h, m, _, v in host_rows]
        guests = [(g, at, c) for g, _, c in guest_rows]
        began = time.perf_counter()
        with transaction.atomic():
            if args.phase == "old":
                bulk.insert_rows(HostSample, cluster.HOST_COLUMNS, hosts)
                bulk.insert_rows(GuestSample, cluster.GUEST_COLUMNS, guests)
            else:
                storage.write_samples(HostSample, cluster.HOST_COLUMNS, hosts, unique=True)
                storage.write_samples(GuestSample, cluster.GUEST_COLUMNS, guests, unique=True)
        write_times.append(time.perf_counter() - began)
        if i % 60 == 0:
            print(f"  {args.phase}: round {i + 1}/{rounds}", file=sys.stderr, flush=True)
    raw_tables = [HostSample._meta.db_table, GuestSample._meta.db_table]
    with connection.cursor() as cursor:
        for table in raw_tables:
            cursor.execute(f"ANALYZE {table}")
    result = {
        "rows": (len(host_rows) + len(guest_rows)) * rounds,
        "hosts": len(inventory.hosts),
        "guests": len(inventory.guests),
        "minutes": args.minutes,
        "write_round_s": statistics.median(write_times),
        "raw_bytes": size(raw_tables),
        "raw_index_share": index_share(raw_tables),
    }
    end = start + timedelta(seconds=STEP * rounds)
    if args.phase == "new":
        from automigrate.models import GuestRollup1m, GuestRollup5m, HostRollup1m, HostRollup5m
        from automigrate.services import partitions, rollups

        began = time.perf_counter()
        rollups.roll_up(end + timedelta(minutes=2))
        result["rollup_s"] = time.perf_counter() - began
        result["rollup_1m_bytes"] = size([HostRollup1m._meta.db_table, GuestRollup1m._meta.db_table])
        result["rollup_5m_bytes"] = size([HostRollup5m._meta.db_table, GuestRollup5m._meta.db_table])
        result["rollup_1m_rows"] = HostRollup1m.objects.count() + GuestRollup1m.objects.count()
        result["rollup_5m_rows"] = HostRollup5m.objects.count() + GuestRollup5m.objects.count()
        began = time.perf_counter()
        dropped = partitions.drop_before(HostSample, day + timedelta(days=1))
        dropped += partitions.drop_before(GuestSample, day + timedelta(days=1))
        result["prune_s"] = time.perf_counter() - began
        result["dropped"] = dropped
    else:
        began = time.perf_counter()
        with transaction.atomic():
            deleted = HostSample.objects.filter(time__lt=end).delete()[0]
            deleted += GuestSample.objects.filter(time__lt=end).delete()[0]
        result["prune_s"] = time.perf_counter() - began
        result["deleted"] = deleted
        began = time.perf_counter()
        with connection.cursor() as cursor:
            for table in raw_tables:
                cursor.execute(f"VACUUM {table}")
        result["vacuum_s"] = time.perf_counter() - began
    result["rows_left"] = HostSample.objects.count() + GuestSample.objects.count()
    return result


def run_phase(args: argparse.Namespace, name: str) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--database-url", args.database_url,
               "--hosts", str(args.hosts), "--guests", str(args.guests), "--minutes", str(args.minutes)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    if done.returncode:
        sys.exit(f"phase {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.phase:
        print(json.dumps(phase(args)))
        return
    results = {name: run_phase(args, name) for name in ("old", "new")}
    old, new = results["old"], results["new"]
    days = old["minutes"] / 1440
    mib = 1024**2

    def per_host_day(value: float) -> float:
        return value / old["hosts"] / days

    old_raw, new_raw = per_host_day(old["raw_bytes"]), per_host_day(new["raw_bytes"])
    minute, five = per_host_day(new["rollup_1m_bytes"]), per_host_day(new["rollup_5m_bytes"])
    print(f"cluster {old['hosts']} hosts / {old['guests']} guests, {old['minutes']} min of 10-s samples,"
          f" {old['rows']:,} rows per schema")
    print(f"write one round: old {old['write_round_s'] * 1000:.0f} ms, new {new['write_round_s'] * 1000:.0f} ms")
    print(f"raw samples per host-day: old {old_raw / mib:.2f} MiB ({old['raw_index_share']:.0%} indexes),"
          f" new {new_raw / mib:.2f} MiB ({new['raw_index_share']:.0%} indexes): {new_raw / old_raw:.2f}×")
    print(f"roll-ups per host-day: 1-min {minute / mib:.3f} MiB ({new['rollup_1m_rows']:,} rows),"
          f" 5-min {five / mib:.3f} MiB ({new['rollup_5m_rows']:,} rows); roll-up of the"
          f" {old['minutes']} min: {new['rollup_s']:.1f} s ({new['rollup_s'] / old['minutes'] * 1000:.0f} ms a minute)")
    # Steady state for HISTORY_DAYS of history, per host. Raw: the retention plus the partition being
    # filled (on average half a partition; at worst a whole one plus the hourly prune's lag).
    old_footprint = old_raw * HISTORY_DAYS
    retention = RAW_RETENTION_MINUTES / 1440
    for hours in (24, 1):
        span = hours / 24
        raw_average, raw_worst = new_raw * (retention + span / 2), new_raw * (retention + span + 1 / 24)
        rolled = minute * (MINUTE_DAYS + 0.5) + five * (HISTORY_DAYS + 0.5)
        average, worst = raw_average + rolled, raw_worst + rolled
        print(f"{HISTORY_DAYS} days of history per host, raw partitions of {hours} h:"
              f" old {old_footprint / mib:.1f} MiB, new {average / mib:.1f} MiB on average"
              f" ({average / old_footprint:.3f}×, 1/{old_footprint / average:.1f}),"
              f" {worst / mib:.1f} MiB at worst (1/{old_footprint / worst:.1f});"
              f" per host-day of history: old {old_footprint / HISTORY_DAYS / mib:.2f} MiB,"
              f" new {average / HISTORY_DAYS / mib:.2f} MiB")
    scale = 1 / days
    print(f"prune one day: old DELETE {old['prune_s']:.1f} s for {old['minutes']} min"
          f" ({old['deleted']:,} rows) → {old['prune_s'] * scale:.0f} s a day, then VACUUM"
          f" {old['vacuum_s']:.1f} s → {old['vacuum_s'] * scale:.0f} s a day;"
          f" new DROP of {len(new['dropped'])} daily partitions {new['prune_s'] * 1000:.0f} ms"
          f" (rows left: old {old['rows_left']}, new {new['rows_left']})")
    print("aims: storage per host-day ≤ 1/5 of before; pruning a day < 1 s")


if __name__ == "__main__":
    main()
