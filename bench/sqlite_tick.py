"""One simulator round (and one window-means read) on the embedded SQLite default, at a few cluster sizes.

    .venv/bin/python bench/sqlite_tick.py [--sizes 100x2000,500x10000,1000x20000]

For the README's "how big a cluster the embedded default serves": a round must
stay well inside the 10-s sample period, and SQLite has one writer at a time.
Each size gets a fresh database file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100x2000,500x10000,1000x20000")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="am-sqlite-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automigrate.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from automigrate.models import Guest, GuestSample, Host, HostSample
    from automigrate.services import metrics
    from automigrate.simulator import cluster

    call_command("migrate", verbosity=0)
    print(f"{'hosts x guests':>16} {'round':>8} {'host means 2m':>14} {'rows/round':>11}")
    for size in args.sizes.split(","):
        hosts, guests = (int(n) for n in size.split("x"))
        for model in (GuestSample, HostSample, Guest, Host):
            model.objects.all()._raw_delete(model.objects.db)
        cluster.seed_cluster(hosts=hosts, guests=guests, seed=1, prefix="b")
        now = timezone.now()
        for i in range(12):  # two minutes of rounds first, so the means read a full window
            cluster.tick(now - timedelta(seconds=10 * (12 - i)))
        times = []
        for i in range(3):
            started = time.perf_counter()
            cluster.tick(now + timedelta(seconds=i))
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        metrics.host_means(120, now)
        means = time.perf_counter() - started
        print(f"{size:>16} {statistics.median(times):7.2f}s {means:13.2f}s {hosts * 2 + guests:>11,}")


if __name__ == "__main__":
    main()
