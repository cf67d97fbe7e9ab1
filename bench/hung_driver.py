"""How long a hung driver delays everything else: sample writes and rule evaluations, real processes.

    .venv/bin/python bench/hung_driver.py [--database-url postgres://...] [--broker redis://127.0.0.1:6379/1]

Runs the product's own Celery worker(s) and beat as subprocesses on PostgreSQL
and Redis, on a small simulated cluster where one host is hot: rule
``test-cpu`` (30 s) fires and starts a migration, and rule ``test-mem``
(10 s, never fires) is evaluated by beat all along. Three scenarios:

* ``simulator``: the simulator's driver (the baseline: nothing hangs);
* ``hung, make run``: a driver whose start, poll and cancel never answer,
  with `make run`'s one worker consuming every queue (prefork, concurrency 2);
* ``hung, per queue``: the same driver, one worker per queue as README's
  production layout (evaluation with two processes).

From the database it reads, over the time the migration was in flight, the
gaps between the simulator's sample writes (beat: every 10 s) and between
evaluations of ``test-mem`` (every 10 s), and how late the migration was
timed out after its deadline (60 s). A hung driver delays nothing when the
gaps match the baseline's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from benchdb import ROOT, setup_django

from automigrate.drivers.base import MigrationDriver

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_bounds"
DEFAULT_BROKER = "redis://127.0.0.1:6379/1"
DEADLINE_SECONDS = 60
AFTER_SECONDS = 15  # keep watching this long after the migration ended
GIVE_UP_SECONDS = 180


class NeverAnswersDriver(MigrationDriver):
    """Its start, poll and cancel never return (AUTOMIGRATE_DRIVER=hung_driver.NeverAnswersDriver)."""

    name = "never-answers"

    def start(self, migration, now):
        threading.Event().wait()

    def poll(self, migration, now):
        threading.Event().wait()

    def cancel(self, migration):
        threading.Event().wait()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--broker", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    parser.add_argument("--scenarios", default="simulator,hung-make-run,hung-per-queue")
    return parser.parse_args()


def seed() -> tuple[int, int]:
    """A fresh cluster: one hot host with a stressed guest, one roomy host; two rules; beat's schedules."""
    from django.core.management import call_command

    from automigrate.engine.model import CPU, MEM
    from automigrate.models import Guest, Host
    from automigrate.services import schedule
    from automigrate.services.rules import create_rule
    from automigrate.simulator import cluster

    call_command("flush", interactive=False, verbosity=0)
    gib = 1024**3
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * gib)
    Host.objects.create(name="roomy", cpu_count=64, mem_total=512 * gib)
    Guest.objects.create(name="web", host=hot, vcpu_count=4, vmem_size=2048, workload={"shape": "steady", "level": 20})
    Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024,
                         workload={"shape": "steady", "level": 5})
    cpu = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "30s"})
    mem = create_rule({"name": "test-mem", "metric": MEM, "threshold": "1M", "period": "10s"})
    cluster.set_workload("cpu-test-vm", "stress")
    cluster.backfill(30)
    schedule.ensure_system_schedules()
    return cpu.pk, mem.pk


def processes(layout: str, env: dict) -> list[subprocess.Popen]:
    celery = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "automigrate"]
    common = ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    if layout == "make-run":
        workers = [["worker", "-Q", "sampling,evaluation,watching", "--concurrency=2", "-n", "all@%h", *common]]
    else:
        # As README's production layout: evaluation has two processes, so a rule whose start
        # hangs (up to the start bound) does not hold the next rule's check.
        workers = [["worker", "-Q", queue, f"--concurrency={concurrency}", "-n", f"{queue}@%h", *common]
                   for queue, concurrency in (("sampling", 1), ("evaluation", 2), ("watching", 1))]
    beat = ["beat", "--loglevel=WARNING", "--schedule", "/tmp/automigrate-bench-beat"]
    log = open("/tmp/automigrate-bench-celery.log", "a")  # noqa: SIM115 - lives as long as the processes
    return [subprocess.Popen([*celery, *args], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
            for args in [*workers, beat]]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def gaps(times) -> list[float]:
    times = sorted(set(times))
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def run(name: str, layout: str, driver: str, args) -> dict:
    from django.db import connection

    from automigrate.models import HostSample, Migration, MigrationRule

    _cpu_pk, mem_pk = seed()
    connection.close()
    env = {**os.environ, "DATABASE_URL": args.database_url, "CELERY_BROKER_URL": args.broker,
           "AUTOMIGRATE_DRIVER": driver, "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}",
           "AUTOMIGRATE_MIGRATION_TIMEOUT_BASE_SECONDS": str(DEADLINE_SECONDS),
           "AUTOMIGRATE_MIGRATION_TIMEOUT_SECONDS_PER_GIB": "0",
           "AUTOMIGRATE_SIM_FAILURE_PROBABILITY": "0", "AUTOMIGRATE_SIM_BANDWIDTH_MB_PER_S": "20",
           "DEBUG": "1", "LOG_LEVEL": "WARNING"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "celery"), "-A", "automigrate", "purge", "-f",
                    "-Q", "sampling,evaluation,watching"], cwd=ROOT, env=env, capture_output=True, check=False)
    procs = processes(layout, env)
    evaluations: list = []
    began = time.monotonic()
    try:
        while time.monotonic() - began < GIVE_UP_SECONDS:
            evaluated = MigrationRule.objects.filter(pk=mem_pk).values_list("last_evaluated_at", flat=True).get()
            if evaluated and evaluated not in evaluations:
                evaluations.append(evaluated)
            migration = Migration.objects.first()
            if migration and migration.finished_at:
                ended = time.monotonic()
                while time.monotonic() - ended < AFTER_SECONDS:
                    time.sleep(0.5)
                    evaluated = MigrationRule.objects.filter(pk=mem_pk).values_list(
                        "last_evaluated_at", flat=True).get()
                    if evaluated not in evaluations:
                        evaluations.append(evaluated)
                break
            time.sleep(0.5)
    finally:
        stop(procs)
    migration = Migration.objects.first()
    if migration is None or migration.finished_at is None:
        return {"scenario": name, "error": f"no migration ended in {GIVE_UP_SECONDS} s"}
    start, end = migration.started_at, migration.finished_at
    samples = HostSample.objects.filter(host__name="hot", metric="cpu.usage_active", time__gte=start,
                                        time__lte=end).values_list("time", flat=True)
    sample_gaps = gaps([start, *samples, end])
    during = [t for t in evaluations if start <= t <= end]
    eval_gaps = gaps([start, *during, end])
    late = (end - migration.deadline_at).total_seconds() if migration.deadline_at else None
    return {
        "scenario": name, "state": migration.state, "in_flight_s": (end - start).total_seconds(),
        "late_s": late if migration.state == Migration.State.TIMED_OUT else None,
        "samples": len(set(samples)), "sample_gap_max": max(sample_gaps), "sample_gap_median": statistics.median(
            sample_gaps),
        "evaluations": len(during), "eval_gap_max": max(eval_gaps), "eval_gap_median": statistics.median(eval_gaps),
        "error": migration.error[:80],
    }


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    scenarios = {
        "simulator": ("simulator", "make-run", "simulator"),
        "hung-make-run": ("hung, make run", "make-run", "hung_driver.NeverAnswersDriver"),
        "hung-per-queue": ("hung, per queue", "per-queue", "hung_driver.NeverAnswersDriver"),
    }
    columns = ["scenario", "state", "in_flight_s", "late_s", "samples", "sample_gap_median", "sample_gap_max",
               "evaluations", "eval_gap_median", "eval_gap_max", "error"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns), flush=True)
    for key in args.scenarios.split(","):
        row = run(*scenarios[key], args)
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |", flush=True)


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
