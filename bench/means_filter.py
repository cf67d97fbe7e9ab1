"""What the range filter of the window means costs: the same aggregates with and without it.

    .venv/bin/python bench/evaluate.py --hosts 500 --guests 10000      # builds the cluster and its samples
    .venv/bin/python bench/means_filter.py [--database-url postgres://...]

Runs on the samples bench/evaluate.py leaves in its database (a 5-minute
window of 10-s samples). ``filtered`` is what the evaluator runs
(HostSampleQuerySet.in_range: CPU 0..100, memory 0..the host's mem_total,
which joins the host table; GuestSampleQuerySet.in_range); ``unfiltered``
is the same GROUP BY without the ranges, as before issue 10. Median of 9 runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

from benchdb import setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench"
RUNS = 9


def median_ms(function) -> float:
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.db.models import Avg
    from django.utils import timezone

    from automigrate.engine.model import METRICS
    from automigrate.models import GuestSample, HostSample

    until = timezone.now()
    since = until - timedelta(seconds=300)
    hosts = HostSample.objects.filter(metric__in=METRICS, time__gt=since, time__lte=until)
    guests = GuestSample.objects.filter(time__gt=since, time__lte=until)

    def host_means(queryset):
        return lambda: list(queryset.order_by().values("host_id", "metric").annotate(mean=Avg("value")))

    def guest_means(queryset):
        return lambda: list(queryset.order_by().values("guest_id").annotate(mean=Avg("cpu")))

    print(f"{hosts.count()} host samples, {guests.count()} guest samples in the window\n")
    print(f"{'what':40} {'unfiltered':>11} {'filtered':>10}")
    for name, plain, ranged in (
        ("host means (GROUP BY host, metric)", host_means(hosts), host_means(hosts.in_range())),
        ("guest means (GROUP BY guest)", guest_means(guests), guest_means(guests.in_range())),
    ):
        print(f"{name:40} {median_ms(plain):8.1f} ms {median_ms(ranged):7.1f} ms")


if __name__ == "__main__":
    main()
