"""The operator's-day costs: a /metrics scrape as history grows, and what notifications add per event.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/am_operator_bench .venv/bin/python bench/operators_day.py

Own PostgreSQL database (bench/benchdb.py). Prints the median of ROUNDS runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import setup_django

ROUNDS = 7
URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/am_operator_bench")


def median_ms(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    setup_django(URL)
    from django.utils import timezone
    from prometheus_client import generate_latest

    from automigrate.models import Event, Guest, Host, MetricCounter, Migration, Webhook, WebhookDelivery
    from automigrate.services import notify, telemetry
    from automigrate.services.events import record_event

    Migration.objects.all().delete()
    Guest.objects.all().delete()
    Host.objects.all().delete()
    MetricCounter.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    Webhook.objects.all().delete()
    a = Host.objects.create(name="a", cpu_count=32, mem_total=2**38)
    b = Host.objects.create(name="b", cpu_count=32, mem_total=2**38)
    guest = Guest.objects.create(name="g", host=a, vcpu_count=4, vmem_size=4096)
    for _ in range(20):
        telemetry.evaluation("not_triggered", 0.05)
    print("| what | history | median ms |")
    print("|---|---|---|")
    now = timezone.now()
    have = 0
    for size in (1_000, 10_000, 100_000):
        batch = [
            Migration(guest=guest, source=a, target=b, state=Migration.State.SUCCEEDED,
                      requested_at=now, started_at=now - timedelta(seconds=60 + i % 600),
                      finished_at=now)
            for i in range(size - have)
        ]
        Migration.objects.bulk_create(batch, batch_size=5000)
        have = size
        ms = median_ms(lambda: generate_latest(telemetry.registry()))
        print(f"| /metrics body (all families) | {size:,} migrations | {ms:.1f} |")

    notify._enqueue = lambda ids: None  # measure the write path, not the broker
    ms = median_ms(lambda: record_event(Event.Action.NOT_TRIGGERED, "bench"), rounds=200)
    print(f"| record_event, no webhook | - | {ms:.2f} |")
    for count in (1, 5):
        Webhook.objects.all().delete()
        for i in range(count):
            Webhook.objects.create(name=f"hook-{i}", url="http://127.0.0.1:9/x", actions=["migrate_fail"])
        quiet = median_ms(lambda: record_event(Event.Action.NOT_TRIGGERED, "bench"), rounds=200)
        sent = median_ms(lambda: record_event(Event.Action.MIGRATE_FAIL, "bench"), rounds=200)
        print(f"| record_event, {count} webhook(s), action not chosen / chosen | - | {quiet:.2f} / {sent:.2f} |")
    ms = median_ms(lambda: telemetry.evaluation("not_triggered", 0.05), rounds=200)
    print(f"| telemetry.evaluation (counter + histogram UPDATEs) | - | {ms:.2f} |")


if __name__ == "__main__":
    main()
