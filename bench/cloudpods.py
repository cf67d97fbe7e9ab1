"""Benchmark: reading a Cloudpods inventory, and one inventory sync into PostgreSQL, against the fake.

Usage (PostgreSQL must be up; a separate database is created and migrated):

    .venv/bin/python bench/cloudpods.py [--hosts 1000] [--servers 20000] [--max-limit 1000] [--rounds 3]
    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/cloudpods.py

The fake Cloudpods (tests/cloudpods/fake.py, a real HTTP server on 127.0.0.1,
Python's http.server) serves the lists with Cloudpods' paging; its own cost is
part of every figure, so these are upper bounds for the client's side.

Measured (median of --rounds):

- login: Keystone v3 password auth, catalog parsed, session stored in the database;
- read: ``CloudpodsPlatform.read_inventory()`` (every page of hosts and servers);
- first sync: ``sync_inventory()`` into an empty inventory (creates every row);
- next sync: the same with nothing changed (what beat does every minute);
- poll: one ``GET /servers/{id}`` as the watcher sends it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchdb import setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_cloudpods"


def median_seconds(fn, rounds: int, before=None) -> float:
    times = []
    for _ in range(rounds):
        if before:
            before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=20000)
    parser.add_argument("--max-limit", type=int, default=1000, help="the fake's page cut-down")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))

    from django.conf import settings

    from automigrate.models import Guest, Host, PlatformSession
    from automigrate.platforms.cloudpods import CloudpodsPlatform, client_from_settings
    from automigrate.services.inventory import sync_inventory
    from tests.cloudpods.fake import FakeCloudpods

    fake = FakeCloudpods(max_limit=args.max_limit).start()
    hosts = [fake.add_host(f"bench-host-{i:05d}") for i in range(args.hosts)]
    for i in range(args.servers):
        fake.add_server(f"bench-vm-{i:06d}", hosts[i % len(hosts)])
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE, "PLATFORM": "cloudpods", "INVENTORY_TIMEOUT_SECONDS": 600,
        "CLOUDPODS": {**settings.AUTOMIGRATE["CLOUDPODS"], "AUTH_URL": fake.auth_url, "USERNAME": fake.username,
                      "PASSWORD": fake.password, "TIMEOUT_SECONDS": 60},
    }

    def empty() -> None:
        Guest.objects.all().delete()
        Host.objects.all().delete()

    try:
        empty()
        login = median_seconds(lambda: client_from_settings().login(), args.rounds)
        platform = CloudpodsPlatform()
        read = median_seconds(platform.read_inventory, args.rounds)
        first = median_seconds(sync_inventory, args.rounds, before=empty)
        nxt = median_seconds(sync_inventory, args.rounds)
        client = client_from_settings()
        server_id = next(iter(fake.servers))
        poll = median_seconds(lambda: client.server(server_id), max(args.rounds, 20))
    finally:
        empty()
        PlatformSession.objects.filter(platform="cloudpods").delete()
        fake.stop()
    pages = -(-args.hosts // args.max_limit) + -(-args.servers // args.max_limit)
    print(f"{args.hosts:,} hosts, {args.servers:,} servers, page size {args.max_limit} ({pages} pages),"
          f" median of {args.rounds}")
    print("| what | median |")
    print("|---|---|")
    for name, seconds in (("login (Keystone + catalog + store)", login), ("read_inventory (all pages)", read),
                          ("first sync (creates every row)", first), ("next sync (nothing changed)", nxt),
                          ("poll: GET /servers/{id}", poll)):
        print(f"| {name} | {seconds * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
