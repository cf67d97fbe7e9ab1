"""Simulator at scale on PostgreSQL: seeding time and one round of samples, COPY against bulk_create.

    .venv/bin/python bench/simulator.py [--database-url postgres://...] [--hosts 5000 --guests 100000]
        [--seed-hosts 10000 --seed-guests 200000]

Seeds a cluster of --seed-hosts/--seed-guests (timed: aim < 60 s at 10k/200k),
then times rounds (``tick``) on a --hosts/--guests cluster: the COPY path the
simulator uses now and, in the same run, the bulk_create it used before
(aim ≤ 2 s per round at 5k/100k). The database is emptied first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchdb import setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_sim"
ROUNDS = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--guests", type=int, default=100000)
    parser.add_argument("--seed-hosts", type=int, default=10000)
    parser.add_argument("--seed-guests", type=int, default=200000)
    return parser.parse_args()


def empty() -> None:
    from django.db import connection

    from automigrate.models import Guest, GuestSample, Host, HostSample

    with connection.cursor() as cursor:
        tables = ", ".join(m._meta.db_table for m in (GuestSample, HostSample, Guest, Host))
        cursor.execute(f"TRUNCATE {tables} CASCADE")


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    from datetime import timedelta

    from django.utils import timezone

    from automigrate.models import GuestSample, HostSample
    from automigrate.simulator import cluster

    empty()
    started = time.perf_counter()
    summary = cluster.seed_cluster(hosts=args.seed_hosts, guests=args.seed_guests, seed=1, prefix="bench")
    seed_seconds = time.perf_counter() - started
    print(f"seed {summary}: {seed_seconds:.1f} s (aim < 60 s)")

    empty()
    summary = cluster.seed_cluster(hosts=args.hosts, guests=args.guests, seed=1, prefix="bench")
    print(f"round cluster: {summary}")
    now = timezone.now()

    def bulk_create_round(at):
        # The old path: model objects and INSERTs, for the ratio in the same run.
        hosts, guests = cluster._samples(cluster._inventory(), at)
        HostSample.objects.bulk_create([HostSample(host_id=h, metric=m, time=t, value=v) for h, m, t, v in hosts],
                                       batch_size=5000)
        GuestSample.objects.bulk_create([GuestSample(guest_id=g, time=t, cpu=c) for g, t, c in guests],
                                        batch_size=5000)

    results = {}
    for label, run in (("COPY (tick)", cluster.tick), ("bulk_create (before)", bulk_create_round)):
        times = []
        for i in range(ROUNDS):
            at = now + timedelta(seconds=10 * (len(results) * ROUNDS + i))
            started = time.perf_counter()
            run(at)
            times.append(time.perf_counter() - started)
        results[label] = statistics.median(times)
    base = results["COPY (tick)"]
    for label, seconds in results.items():
        print(f"{label:22} {seconds:6.2f} s per round  {seconds / base:4.1f}×")
    print("aim: ≤ 2 s per round at 5k/100k")


if __name__ == "__main__":
    main()
