"""libvirt figures on a real two-host lab: what automigrate adds to a migration, and inventory sync time.

    .venv/bin/python bench/libvirt.py [--database-url postgres://...] [--runs 3] [--guests 50 --running 10]

Starts its own lab (lab/libvirt_lab.py, folder in /tmp, port 16661) and stops it at the end.

* decision → migrate_success: a planned move is handed to the execution service (the
  decision), then the watcher runs every 0.1 s — what the driver's "migration ended"
  message to the watcher gives (AUTOMIGRATE_LIBVIRT_NOTIFY_WATCHER) — until it records
  ``migrate_success``. Compared with libvirt's own job time for that migration
  (``time_elapsed`` of the destination's completed job stats). The difference is what
  automigrate adds: precheck, start confirmation, polling, recording.
* inventory sync of 2 hosts × N guests (``--running`` of them running, 32 MiB each; the
  others defined and shut off, to spare this machine): the first sync (creates every row)
  and the steady state (nothing changed), median of five.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchdb import ROOT, setup_django

# This file is named libvirt.py: with bench/ first on sys.path, `import libvirt` would import it
# instead of the binding. bench/ is needed only for benchdb, imported above.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/am_libvirt_bench"
LAB_PORT = 16661


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--guests", type=int, default=50, help="guests per host for the inventory figure")
    parser.add_argument("--running", type=int, default=10, help="how many of them run (the rest are shut off)")
    return parser.parse_args()


def configure(lab) -> None:
    from django.conf import settings

    env = lab.env()
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE, "PLATFORM": "libvirt", "DRIVER": "", "METRIC_SOURCE": "database",
        "LIBVIRT_HOSTS": env["AUTOMIGRATE_LIBVIRT_HOSTS"],
        "LIBVIRT_MIGRATION_HOST": env["AUTOMIGRATE_LIBVIRT_MIGRATION_HOST"], "LIBVIRT_NOTIFY_WATCHER": False,
        "COOLDOWN_MINUTES": 0, "BOUNCE_BACK_MINUTES": 0,
    }


def reset_database() -> None:
    """Empty the benchmark's own database (events are append-only for the ORM: TRUNCATE)."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)


def bench_migrations(lab, runs: int) -> list[tuple[float, float]]:
    """(decision → migrate_success, libvirt's job time) in seconds, per run."""
    from automigrate.models import Migration
    from automigrate.services import execution
    from automigrate.services.inventory import sync_inventory
    from automigrate.virt.connection import connected
    from tests.virt.helpers import rule, start_move

    h1, h2 = lab.hosts
    lab.start_guest(h1.name, "bench-vm", 64, "dirty=4 fill=1")
    time.sleep(2)  # let it fill its memory
    sync_inventory()
    the_rule = rule(name="bench")
    results = []
    source, target = h1, h2
    for _ in range(runs):
        started = time.perf_counter()
        batch = start_move(the_rule, "bench-vm", source.name, target.name).batch
        migration = Migration.objects.get(batch=batch)
        while migration.state in Migration.ACTIVE_STATES:
            time.sleep(0.1)
            execution.watch_migrations()
            migration.refresh_from_db()
        total = time.perf_counter() - started
        if migration.state != Migration.State.SUCCEEDED:
            raise SystemExit(f"migration failed: {migration.error}")
        with connected(target.uri) as conn:
            job = conn.lookupByName("bench-vm").jobStats(1)  # VIR_DOMAIN_JOB_STATS_COMPLETED
        results.append((total, job["time_elapsed"] / 1000))
        print(f"  {source.name} → {target.name}: decision → migrate_success {total:.2f} s,"
              f" libvirt job {job['time_elapsed'] / 1000:.2f} s (downtime {job.get('downtime', 0)} ms)")
        source, target = target, source
        sync_inventory()
    return results


def bench_inventory(lab, guests: int, running: int) -> tuple[float, list[float]]:
    from automigrate.services.inventory import sync_inventory
    from automigrate.virt.connection import connected

    for host in lab.hosts:
        for i in range(guests):
            name = f"inv-{host.name}-{i:03d}"
            if i < running:
                lab.start_guest(host.name, name, 32, "dirty=0")
            else:
                with connected(host.uri) as conn:
                    conn.defineXML(lab.domain_xml(name, 32, "dirty=0"))
    started = time.perf_counter()
    first = sync_inventory()
    first_seconds = time.perf_counter() - started
    assert not first.error, first.error
    steady = []
    for _ in range(5):
        started = time.perf_counter()
        report = sync_inventory()
        steady.append(time.perf_counter() - started)
        assert not report.error and not report.changes, report.changes
    return first_seconds, steady


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    sys.path.insert(0, str(ROOT))
    from lab.libvirt_lab import Lab

    lab = Lab(tempfile.mkdtemp(prefix="automigrate-bench-lab-"), port=LAB_PORT)
    print("starting the lab…")
    lab.up()
    try:
        configure(lab)
        reset_database()
        print(f"decision → migrate_success, a 64 MiB guest dirtying 1.6 MiB/s, {args.runs} migrations:")
        runs = bench_migrations(lab, args.runs)
        added = [total - job for total, job in runs]
        print(f"  median: total {statistics.median(t for t, _ in runs):.2f} s, libvirt job "
              f"{statistics.median(j for _, j in runs):.2f} s, automigrate adds {statistics.median(added):.2f} s"
              f" (max {max(added):.2f} s)")
        lab.remove_guests()
        reset_database()
        print(f"inventory sync, 2 hosts × {args.guests} guests ({args.running} running per host):")
        first, steady = bench_inventory(lab, args.guests, args.running)
        print(f"  first sync (creates {2 * args.guests} guests): {first:.3f} s;"
              f" steady state: median {statistics.median(steady):.3f} s (max {max(steady):.3f} s)")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
