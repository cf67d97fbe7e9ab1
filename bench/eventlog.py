"""The event log at 1 M events on PostgreSQL: keyset page 10,000 and estimated count against OFFSET + COUNT(*).

    .venv/bin/python bench/eventlog.py [--database-url postgres://...] [--events 1000000]

Fills the event table once (INSERT ... SELECT generate_series; --events rows),
then times, median of 5, in one run:

* ``page 10,000, keyset``: the dashboard's page context (pages.event_log) at
  the cursor of row 499,950 (page 10,000 of 50 rows) — aim < 100 ms;
* ``page 10,000, OFFSET + COUNT(*)``: what Paginator did before;
* ``first page``: pages.event_log without a cursor;
* ``API page 10,000``: GET /api/events/?before=<cursor>&limit=50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchdb import setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_events"
PAGE = 50
DEPTH = 10_000
RUNS = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=1_000_000)
    return parser.parse_args()


def fill(n: int) -> None:
    from django.db import connection

    from automigrate.models import Event

    if Event.objects.count() >= n:
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Event._meta.db_table}
                (time, rule_name, action, "user", guest_name, source_host_name, target_host_name, notes, summary)
                SELECT now() - (i * interval '1 second') / 3, 'rule-' || mod(i, 7), 'skip', 'system',
                       'vm-' || mod(i, 5000), 'host-' || mod(i, 500), '', '{{}}'::jsonb, 'skipped round ' || i
                FROM generate_series(1, %s) AS i""",
            [n],
        )
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
    print(f"filled {n} events in {time.perf_counter() - started:.0f} s")


def timed(fn) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    args = parse_args()
    setup_django(args.database_url)
    from django.contrib.auth import get_user_model
    from django.core.paginator import Paginator
    from django.test import Client
    from django.test.utils import override_settings

    from automigrate import paging
    from automigrate.models import Event
    from dashboard import pages

    fill(args.events)
    row = Event.objects.order_by("-time", "-id").values_list("time", "id")[PAGE * (DEPTH - 1) - 1]
    cursor = paging.encode_cursor(*row)

    def keyset():
        context = pages.event_log({"before": cursor})
        assert len(list(context["events_page"])) == PAGE
        str(context["events_page"].count)

    def offset():
        queryset = Event.objects.select_related("rule", "guest", "source_host", "target_host").order_by("-time", "-id")
        page = Paginator(queryset, PAGE).get_page(DEPTH)
        assert len(list(page)) == PAGE

    user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
    client = Client()
    client.force_login(user)

    def api():
        with override_settings(ALLOWED_HOSTS=["*"]):
            response = client.get("/api/events/", {"before": cursor, "limit": PAGE})
        assert response.status_code == 200 and len(response.json()["results"]) == PAGE, response.content[:200]

    results = {
        "page 10,000, keyset": timed(keyset),
        "page 10,000, OFFSET + COUNT(*) (before)": timed(offset),
        "first page": timed(lambda: pages.event_log({})),
        "API page 10,000 (keyset)": timed(api),
    }
    base = results["page 10,000, keyset"]
    for label, seconds in results.items():
        print(f"{label:42} {seconds * 1000:8.1f} ms  {seconds / base:6.1f}×")
    print(f"count shown: {paging.estimated_count(Event.objects.all())} (exact {Event.objects.count():,})")
    print("aim: page 10,000 of 1 M events < 100 ms")


if __name__ == "__main__":
    main()
