"""Time and SQL query count of one rule evaluation on a large cluster in PostgreSQL.

    createdb -h 127.0.0.1 -U postgres automigrate_bench
    .venv/bin/python bench/evaluate.py [--database-url postgres://...] [--hosts 1000 --guests 20000] [--reset]
        [--windows 2,5,10] [--keep-samples] [--firing 500]

Builds (once; --reset rebuilds) a simulated cluster with a window of 10-s
samples as long as the longest of --windows (minutes), stresses a few guests
so some hosts fire, then times, for each window (the rule's period):

* ``bare``: one hand-written SQL statement computing the per-host and
  per-guest window means of the whole cluster;
* ``window_means``: the same through our metric source (two ORM aggregates);
* ``preview``: snapshot + engine plan, nothing written;
* ``evaluate (recommend)``: the full evaluation as beat runs it, events included;
* ``evaluate (automatic)``: the same, also taking the lock and starting migrations.

Each is run several times; the median is printed with its query count.
--keep-samples reuses the samples of an earlier run (its latest sample is "now"):
writing 10 minutes of 5,000 hosts and 100,000 guests takes minutes.
--firing N also counts the queries of one evaluation (both modes) with the
threshold set so that exactly 1 and exactly N hosts fire (issue 17: the same).
An evaluation reads guest means only for guests of hosts that fire (the
engine's candidates), which is why it can beat the whole-cluster bare query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchdb import setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench"
STRESSED_GUESTS = 40
RUNS = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--guests", type=int, default=20000)
    parser.add_argument("--reset", action="store_true", help="drop the cluster and samples and build them again")
    parser.add_argument("--windows", default="5", help="rule periods in minutes, comma-separated (e.g. 2,5,10)")
    parser.add_argument("--keep-samples", action="store_true",
                        help="reuse the samples already stored if they cover the longest window")
    parser.add_argument("--firing", type=int, default=0,
                        help="also compare the query count with 1 and this many firing hosts")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs of each measurement (median printed)")
    args = parser.parse_args()
    try:
        args.windows = [int(w) * 60 for w in args.windows.split(",")]
    except ValueError:
        parser.error("--windows: whole minutes, comma-separated, e.g. 2,5,10")
    if not args.windows or min(args.windows) <= 0:
        parser.error("--windows: whole minutes above 0, e.g. 2,5,10")
    if args.runs < 1 or args.firing < 0:
        parser.error("--runs: at least 1; --firing: 0 or more")
    return args


def undo_migrations() -> None:
    """Forget the batches of earlier runs: no lock held, nothing in flight, every guest running where it is."""
    from django.utils import timezone

    from automigrate.models import Guest, Migration, MigrationBatch
    from automigrate.services import lock

    MigrationBatch.objects.filter(finished_at__isnull=True).update(finished_at=timezone.now())
    holder = lock.holder_batch_id()
    if holder:
        lock.release(holder)
    Migration.objects.filter(state__in=Migration.ACTIVE_STATES).update(state=Migration.State.CANCELLED)
    Guest.objects.filter(status=Guest.Status.MIGRATING).update(status=Guest.Status.RUNNING)


def build(n_hosts: int, n_guests: int, reset: bool, window_seconds: int, keep: bool):
    """Cluster and samples; returns (what was done, the "now" the samples end at)."""
    from django.utils import timezone

    from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration, MigrationBatch
    from automigrate.simulator import cluster

    if reset:
        for model in (Event, Migration, MigrationBatch, GuestSample, HostSample, Guest, Host):
            model.objects.all()._raw_delete(model.objects.db)
    if Host.objects.count() != n_hosts or Guest.objects.count() != n_guests:
        if Host.objects.exists():
            raise SystemExit("bench: the database holds another cluster; run with --reset")
        started = time.perf_counter()
        cluster.seed_cluster(hosts=n_hosts, guests=n_guests, seed=1, prefix="bench")
        # Some big guests run stress-ng: their hosts fire, so the plan has work to do.
        stressed = Guest.objects.filter(vcpu_count__gte=8).order_by("pk").values_list("pk", flat=True)
        step = max(1, len(stressed) // STRESSED_GUESTS)
        Guest.objects.filter(pk__in=list(stressed)[::step][:STRESSED_GUESTS]).update(workload={"shape": "stress"})
        print(f"built {n_hosts} hosts, {n_guests} guests in {time.perf_counter() - started:.1f} s", flush=True)
    from django.db.models import Max, Min

    started = time.perf_counter()
    span = HostSample.objects.aggregate(first=Min("time"), last=Max("time"))
    if keep and span["last"] is not None and (span["last"] - span["first"]).total_seconds() >= window_seconds - 10:
        now, done = span["last"], f"kept the samples ending at {span['last']:%H:%M:%S}"
    else:
        # A fresh window, so "now" has exactly the longest window of 10-s samples behind it.
        HostSample.objects.all()._raw_delete(HostSample.objects.db)
        GuestSample.objects.all()._raw_delete(GuestSample.objects.db)
        now = timezone.now()
        hosts, guests = cluster.backfill(window_seconds - 10, now=now)
        done = (f"{hosts} host samples and {guests} guest samples ({window_seconds // 60}-min window of 10-s samples)"
                f" written in {time.perf_counter() - started:.1f} s")
    undo_migrations()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE automigrate_hostsample; ANALYZE automigrate_guestsample")
    return done, now


BARE_SQL = """
SELECT 'h', host_id, metric, AVG(value) FROM automigrate_hostsample
 WHERE metric IN ('cpu.usage_active', 'mem.available') AND time > %s AND time <= %s
 GROUP BY host_id, metric
UNION ALL
SELECT 'g', guest_id, '', AVG(cpu) FROM automigrate_guestsample
 WHERE time > %s AND time <= %s
 GROUP BY guest_id
"""

# Host means of every host, guest means of only the firing hosts' guests, each guest's window
# through the (guest, time) index: what an evaluation needs, in one statement.
NEEDED_SQL = """
SELECT 'h', host_id, metric, AVG(value) FROM automigrate_hostsample
 WHERE metric IN ('cpu.usage_active', 'mem.available') AND time > %s AND time <= %s
 GROUP BY host_id, metric
UNION ALL
SELECT 'g', g.id, '', (SELECT AVG(cpu) FROM automigrate_guestsample s
                        WHERE s.guest_id = g.id AND s.time > %s AND s.time <= %s)
  FROM automigrate_guest g JOIN automigrate_host h ON h.id = g.host_id WHERE h.name = ANY(%s)
"""


def measure(label: str, func, runs: int = RUNS) -> tuple[str, float, int, object]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    times, queries, result = [], 0, None
    for _ in range(runs):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
    return label, statistics.median(times), queries, result


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    from datetime import timedelta

    from django.db import connection

    from automigrate.engine.model import CPU
    from automigrate.models import MigrationRule
    from automigrate.services import evaluate, lock, metrics

    done, now = build(args.hosts, args.guests, args.reset, max(args.windows), args.keep_samples)
    print(done, flush=True)
    rule, _ = MigrationRule.objects.update_or_create(
        name="bench-cpu", defaults={"metric": CPU, "threshold": 60, "period_seconds": max(args.windows),
                                    "mode": MigrationRule.Mode.RECOMMEND, "last_batch_finished_at": None},
    )

    def free() -> None:
        # Each run starts free: release the previous run's batch so this one executes too.
        holder = lock.holder_batch_id()
        if holder:
            lock.release(holder)
        rule.last_batch_finished_at = None

    for window in args.windows:
        since = now - timedelta(seconds=window)
        rule.period_seconds, rule.mode, rule.threshold = window, MigrationRule.Mode.RECOMMEND, 60
        undo_migrations()
        free()

        def bare(since=since) -> int:
            with connection.cursor() as cursor:
                cursor.execute(BARE_SQL, [since, now, since, now])
                return len(cursor.fetchall())

        def automatic() -> str:
            free()
            return evaluate.evaluate_rule(rule, now=now).result

        firing_hosts = [t["host"] for t in evaluate.preview_rule(rule, now=now).triggered]

        def needed(since=since, firing_hosts=firing_hosts) -> int:
            # The floor for an evaluation: only the means it needs, hand-written (issue 17's aim: ≤ 1.5× this).
            with connection.cursor() as cursor:
                cursor.execute(NEEDED_SQL, [since, now, since, now, firing_hosts])
                return len(cursor.fetchall())

        def all_means(window=window) -> int:
            return len(metrics.window_means(window, now).guests)

        rows = [
            measure("bare SQL (per-host + per-guest means)", bare, args.runs),
            measure("bare SQL, only the means it needs", needed, args.runs),
            measure("metrics.window_means (all hosts + all guests)", all_means, args.runs),
            measure("preview_rule (snapshot + plan)", lambda: len(evaluate.preview_rule(rule, now=now).moves),
                    args.runs),
            measure("evaluate_rule, recommend mode", lambda: evaluate.evaluate_rule(rule, now=now).result, args.runs),
        ]
        rule.mode = MigrationRule.Mode.AUTOMATIC
        rows.append(measure("evaluate_rule, automatic mode", automatic, args.runs))
        rule.mode = MigrationRule.Mode.RECOMMEND

        plan = evaluate.preview_rule(rule, now=now)
        print(f"\n{args.hosts} hosts, {args.guests} guests; rule {rule.describe()}: "
              f"{len(plan.triggered)} hosts fire, {len(plan.moves)} moves planned, {len(plan.failures)} failures\n")
        bare_time, needed_time = rows[0][1], rows[1][1]
        print(f"{'what':46} {'median':>9} {'queries':>8} {'× bare':>7} {'× needed':>9}")
        for label, seconds, queries, _ in rows:
            print(f"{label:46} {seconds * 1000:7.0f} ms {queries:8d} {seconds / bare_time:7.2f}"
                  f" {seconds / needed_time:9.2f}", flush=True)
    if args.firing:
        firing_counts(rule, now, args.firing, free)


def firing_counts(rule, now, many: int, free) -> None:
    """Queries of one evaluation with 1 and ``many`` hosts firing (thresholds between two hosts' means)."""
    from automigrate.engine.model import CPU
    from automigrate.models import MigrationRule
    from automigrate.services import evaluate, metrics

    means = sorted((m[CPU] for m in metrics.host_means(rule.period_seconds, now).values() if CPU in m), reverse=True)
    if len(means) <= many:
        raise SystemExit(f"bench: --firing {many} needs more than {many} hosts with samples")

    def threshold(count: int) -> float:
        # Halfway to the next lower mean, past ties (stressed hosts all sit at 100 %): at least ``count`` fire.
        i = count - 1
        while i + 1 < len(means) and means[i + 1] == means[i]:
            i += 1
        return (means[i] + means[i + 1]) / 2 if i + 1 < len(means) else means[i] - 1
    print(f"\nqueries of one evaluation by firing hosts ({rule.period_seconds // 60}-min window)")
    print(f"{'mode':10} {'firing':>7} {'queries':>8} {'median':>9}  result")
    for mode in (MigrationRule.Mode.RECOMMEND, MigrationRule.Mode.AUTOMATIC):
        for count in (1, many):
            rule.mode, rule.threshold = mode, threshold(count)

            def once() -> str:
                undo_migrations()
                free()
                return evaluate.evaluate_rule(rule, now=now).result

            _, seconds, queries, result = measure(f"{mode} {count}", once, 3)
            fired = len(evaluate.preview_rule(rule, now=now).triggered)
            print(f"{mode:10} {fired:7d} {queries:8d} {seconds * 1000:7.0f} ms  {result}", flush=True)


if __name__ == "__main__":
    main()
