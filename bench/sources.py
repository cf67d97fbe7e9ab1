"""One evaluation's time with each real metric store as the source, next to the bare server query.

    .venv/bin/python bench/sources.py [--hosts 1000 --guests 20000] [--database-url postgres://...]

Builds a simulated cluster in PostgreSQL (its own database), a 5-minute window
of 10-s samples for every host and guest (the simulator's, backfilled into
our sample tables), and 24 h of 10-s samples for one host. The very same
samples go to each real server (InfluxDB 1.x, VictoriaMetrics, Prometheus,
started on free loopback ports as the tests do) through its own write path.
Then, for each source including the database one, the median of 5 runs of:

* ``bare``: the store's own query for every host's CPU and memory window
  means (the single InfluxQL/PromQL/SQL statement, over requests/psycopg2),
  plus the guests of the hosts that fire (what an evaluation asks);
* ``host_means`` + ``guest_means``: the same two questions through our source
  (what an evaluation spends in the source);
* ``preview``: a whole evaluation (snapshot + engine plan, nothing written);
* ``chart 24h``: one host's CPU over 24 h, downsampled by the store.

Finally how much PostgreSQL would store per day at this scale if the samples
were pushed to it, measured from the sample tables' size per row.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchdb import ROOT, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/am_sources_bench"
WINDOW = 300
STEP = 10
RUNS = 5
HOT_HOSTS = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--guests", type=int, default=20000)
    parser.add_argument("--kinds", default="influxdb,victoriametrics,prometheus")
    return parser.parse_args()


def median_time(func, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def build(n_hosts: int, n_guests: int, now):
    """The cluster and its samples in our tables; returns (telegraf lines oldest first, chart host)."""
    from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration, MigrationBatch
    from automigrate.simulator import cluster

    for model in (Event, Migration, MigrationBatch, GuestSample, HostSample, Guest, Host):
        model.objects.all()._raw_delete(model.objects.db)
    started = time.perf_counter()
    cluster.seed_cluster(hosts=n_hosts, guests=n_guests, seed=1, prefix="bench")
    hot = list(Host.objects.order_by("name").values_list("pk", flat=True)[:HOT_HOSTS])
    Guest.objects.filter(host_id__in=hot).update(workload={"shape": "stress"})
    print(f"cluster: {Host.objects.count()} hosts, {Guest.objects.count()} guests"
          f" ({time.perf_counter() - started:.1f} s)", flush=True)

    chart_host = Host.objects.order_by("name").last()
    history = [
        HostSample(host=chart_host, metric=metric, time=now - timedelta(seconds=offset),
                   value=(50 + 40 * math.sin(offset / 3000)) if metric == "cpu.usage_active" else 64 * 1024**3)
        for offset in range(86400, WINDOW, -STEP) for metric in ("cpu.usage_active", "mem.available")
    ]
    HostSample.objects.bulk_create(history, batch_size=10000)
    started = time.perf_counter()
    hosts, guests = cluster.backfill(WINDOW - STEP, now=now, step=STEP)
    print(f"our tables: {hosts + len(history)} host and {guests} guest samples"
          f" ({time.perf_counter() - started:.1f} s)", flush=True)

    from django.db import connection

    with connection.cursor() as cursor:
        # VACUUM FULL: rows deleted by an earlier run must not count in the size per row measured below.
        cursor.execute("VACUUM FULL ANALYZE automigrate_hostsample")
        cursor.execute("VACUUM FULL ANALYZE automigrate_guestsample")
    return telegraf_lines(), chart_host


def telegraf_lines() -> list[str]:
    """Every stored sample as telegraf writes it, oldest first (Prometheus wants each series in order)."""
    from automigrate.models import Guest, GuestSample, Host, HostSample

    hosts = dict(Host.objects.values_list("pk", "external_id"))
    guests = dict(Guest.objects.values_list("pk", "external_id"))
    lines = []
    for host_id, metric, at, value in HostSample.objects.order_by("time").values_list(
        "host_id", "metric", "time", "value"
    ).iterator(chunk_size=20000):
        stamp = int(at.timestamp())
        if metric == "cpu.usage_active":
            lines.append(f"cpu,cpu=cpu-total,host_id={hosts[host_id]} usage_active={value!r} {stamp}")
        else:
            lines.append(f"mem,host_id={hosts[host_id]} available={int(value)}i {stamp}")
    for guest_id, at, cpu in GuestSample.objects.order_by("time").values_list("guest_id", "time", "cpu").iterator(
        chunk_size=20000
    ):
        lines.append(f"vm_cpu,vm_id={guests[guest_id]} usage_active={cpu!r} {int(at.timestamp())}")
    return lines


def bare_queries(kind: str, server, since, now, guest_keys: list[str], chart_key: str, bucket: int):
    """The store's own statements for the same questions, over plain requests (no mapping to our rows)."""
    import requests

    from automigrate.sources.promql import quoted
    from automigrate.sources.remote import alternation

    s, u = int(since.timestamp()), int(now.timestamp())
    if kind == "influxdb":
        def ask(q):
            answer = requests.post(f"{server.url}/query", data={"db": "telegraf", "q": q, "epoch": "s"}, timeout=60)
            answer.raise_for_status()
            return answer.json()

        where = f"time > {s}s AND time <= {u}s"
        hosts = (f"SELECT mean(usage_active) FROM cpu WHERE cpu='cpu-total' AND {where} GROUP BY host_id;"
                 f" SELECT mean(available) FROM mem WHERE {where} GROUP BY host_id")
        guests = (f"SELECT mean(usage_active) FROM vm_cpu WHERE {where}"
                  f" AND vm_id =~ /^({alternation(guest_keys)})$/ GROUP BY vm_id")
        chart = (f"SELECT mean(usage_active) FROM cpu WHERE cpu='cpu-total' AND host_id='{chart_key}'"
                 f" AND time >= {u - 86400}s AND time <= {u}s GROUP BY time({bucket}s) fill(none)")
        return (lambda: ask(hosts)), (lambda: ask(guests)), (lambda: ask(chart))

    window = f"{WINDOW * 1000 - 1}ms" if kind == "prometheus" else f"{WINDOW}s"

    def query(q):
        answer = requests.post(f"{server.url}/api/v1/query", data={"query": q, "time": u}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def query_range(q):
        answer = requests.post(f"{server.url}/api/v1/query_range",
                               data={"query": q, "start": u - 86400, "end": u, "step": bucket}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    hosts = (f'label_replace(avg by (host_id) (avg_over_time(cpu_usage_active{{cpu="cpu-total"}}[{window}])),'
             f' "m", "cpu", "", "") or label_replace(avg by (host_id) (avg_over_time(mem_available[{window}])),'
             f' "m", "mem", "", "")')
    matcher = f"vm_id=~{quoted(alternation(guest_keys))}"
    guests = f"avg by (vm_id) (avg_over_time(vm_cpu_usage_active{{{matcher}}}[{window}]))"
    chart = f'avg(avg_over_time(cpu_usage_active{{cpu="cpu-total", host_id="{chart_key}"}}[{bucket}s]))'
    return (lambda: query(hosts)), (lambda: query(guests)), (lambda: query_range(chart))


def bare_database(since, now, guest_ids: list[int], chart_pk: int, bucket: int):
    from django.db import connection

    def run(sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    hosts = ("SELECT host_id, metric, AVG(value) FROM automigrate_hostsample WHERE metric IN"
             " ('cpu.usage_active', 'mem.available') AND time > %s AND time <= %s GROUP BY host_id, metric")
    guests = ("SELECT guest_id, AVG(cpu) FROM automigrate_guestsample WHERE guest_id = ANY(%s)"
              " AND time > %s AND time <= %s GROUP BY guest_id")
    chart = ("SELECT FLOOR(EXTRACT(EPOCH FROM time) / %s), AVG(value) FROM automigrate_hostsample"
             " WHERE host_id = %s AND metric = 'cpu.usage_active' AND time >= %s AND time <= %s GROUP BY 1 ORDER BY 1")
    return (lambda: run(hosts, [since, now])), (lambda: run(guests, [guest_ids, since, now])), (
        lambda: run(chart, [bucket, chart_pk, now - timedelta(days=1), now]))


def promql_costs(kind: str, server, now) -> list[str]:
    """What the range check costs in PromQL: one metric over every host, with more statistics per request."""
    import requests

    window = f"{WINDOW * 1000 - 1}ms" if kind == "prometheus" else f"{WINDOW}s"
    sel = '{__name__="cpu_usage_active", cpu="cpu-total"}'

    def parts(*stats):
        def one(stat):
            outer = "sum" if stat in ("sum", "count") else stat
            inner = f"{outer} by (host_id, host) ({stat}_over_time({sel}[{window}]))"
            return f'label_replace({inner}, "q", "{stat}", "", "")'

        return " or ".join(one(stat) for stat in stats)

    variants = {"avg": f"avg by (host_id) (avg_over_time({sel}[{window}]))", "sum+count": parts("sum", "count"),
                "avg+min+max": parts("avg", "min", "max"), "sum+count+min+max": parts("sum", "count", "min", "max")}
    lines = []
    for name, query in variants.items():
        seconds, _ = median_time(lambda q=query: requests.post(
            f"{server.url}/api/v1/query", data={"query": q, "time": int(now.timestamp())}, timeout=60).json())
        lines.append(f"{kind}: {name}: {seconds * 1000:.0f} ms")
    return lines


def measure_source(label: str, bare, rule, now, chart_host, bucket: int, firing_guests: list[int]) -> dict:
    from django.conf import settings

    from automigrate.engine.model import CPU
    from automigrate.services import evaluate
    from automigrate.sources import get_source

    source = get_source()
    since = now - timedelta(seconds=WINDOW)
    bare_hosts, bare_guests, bare_chart = bare
    row = {"source": label}
    row["bare hosts"], _ = median_time(bare_hosts)
    row["bare guests"], _ = median_time(bare_guests)
    row["host_means"], means = median_time(lambda: source.host_means(since, now))
    row["guest_means"], guest_means = median_time(lambda: source.guest_means(since, now, firing_guests))
    row["preview"], plan = median_time(lambda: evaluate.preview_rule(rule, now=now))
    row["bare chart"], _ = median_time(bare_chart)
    row["chart 24h"], series = median_time(
        lambda: source.host_series(chart_host.pk, CPU, now - timedelta(days=1), now, bucket))
    row["hosts with data"] = len(means)
    row["guests with data"] = len(guest_means)
    row["fired"] = len(plan.triggered)
    row["moves"] = len(plan.moves)
    row["chart points"] = len(series)
    row["ratio"] = (row["host_means"] + row["guest_means"]) / (row["bare hosts"] + row["bare guests"])
    assert settings.AUTOMIGRATE["METRIC_SOURCE"] == label or label == "database"
    return row


def storage_per_day(n_hosts: int, n_guests: int) -> str:
    from django.db import connection

    from automigrate.models import GuestSample, HostSample

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('automigrate_hostsample'),"
                       " pg_total_relation_size('automigrate_guestsample')")
        host_bytes, guest_bytes = cursor.fetchone()
    host_rows, guest_rows = HostSample.objects.count(), GuestSample.objects.count()
    per_host_row, per_guest_row = host_bytes / host_rows, guest_bytes / guest_rows
    per_day = 86400 // STEP
    rows = (2 * n_hosts + n_guests) * per_day
    size = (2 * n_hosts * per_host_row + n_guests * per_guest_row) * per_day
    return (f"PostgreSQL no longer stores, at {n_hosts} hosts / {n_guests} guests every {STEP} s:"
            f" {rows / 1e6:.0f} M rows a day ({per_host_row:.0f} B per host row, {per_guest_row:.0f} B per guest"
            f" row with indexes) = {size / 1024**3:.1f} GiB a day")


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    sys.path.insert(0, str(ROOT))
    from django.conf import settings
    from django.utils import timezone

    from automigrate.engine.model import CPU
    from automigrate.models import Guest, MigrationRule
    from automigrate.services.series import bucket_seconds_for
    from tests.sources import servers

    now = timezone.now().replace(microsecond=0)
    lines, chart_host = build(args.hosts, args.guests, now)
    rule, _ = MigrationRule.objects.update_or_create(
        name="bench-cpu", defaults={"metric": CPU, "threshold": 60, "period_seconds": WINDOW,
                                    "mode": MigrationRule.Mode.RECOMMEND},
    )
    bucket = bucket_seconds_for(86400)
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database"}
    from automigrate.services import evaluate

    firing = [item["host"] for item in evaluate.preview_rule(rule, now=now).triggered]
    firing_guests = list(Guest.objects.filter(host__name__in=firing).values_list("pk", flat=True))
    guest_keys = list(Guest.objects.filter(pk__in=firing_guests).values_list("external_id", flat=True))
    print(f"{len(firing)} hosts fire; their {len(firing_guests)} guests are asked for; chart bucket {bucket} s",
          flush=True)

    rows = [measure_source("database", bare_database(now - timedelta(seconds=WINDOW), now, firing_guests,
                                                     chart_host.pk, bucket),
                           rule, now, chart_host, bucket, firing_guests)]
    storage = storage_per_day(args.hosts, args.guests)
    costs: list[str] = []
    for kind in args.kinds.split(","):
        if servers.binary(kind) is None:
            print(f"{kind}: not installed, skipped")
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
        server = servers.start(kind, folder)
        try:
            started = time.perf_counter()
            server.write_lines(lines)
            print(f"{kind}: {len(lines)} samples written in {time.perf_counter() - started:.1f} s", flush=True)
            settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": kind, "METRIC_URL": server.url,
                                    "METRIC_TIMEOUT_SECONDS": 60}
            bare = bare_queries(kind, server, now - timedelta(seconds=WINDOW), now, guest_keys,
                                chart_host.external_id, bucket)
            rows.append(measure_source(kind, bare, rule, now, chart_host, bucket, firing_guests))
            if kind != "influxdb":
                costs.extend(promql_costs(kind, server, now))
        finally:
            server.stop()

    columns = ["source", "bare hosts", "host_means", "bare guests", "guest_means", "ratio", "preview",
               "bare chart", "chart 24h", "hosts with data", "guests with data", "fired", "moves", "chart points"]
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if column == "ratio":
                cells.append(f"{value:.2f}×")
            elif isinstance(value, float):
                cells.append(f"{value * 1000:.0f} ms")
            else:
                cells.append(str(value))
        print("| " + " | ".join(cells) + " |")
    print()
    print("PromQL, CPU of every host, by statistics asked per request:", "; ".join(costs))
    print(storage)


if __name__ == "__main__":
    main()
