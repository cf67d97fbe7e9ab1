"""Benchmark: the OpenStack connector against the real in-process Nova 34 (tests/nova/nova_harness.py).

Usage (PostgreSQL up, the Nova virtualenv built by .ci/run):

    .venv/bin/python bench/nova.py [--servers 20] [--rounds 3]

Measured: the harness until it serves (Nova's fixtures: databases, placement,
conductor, scheduler, two computes); ``read_inventory()`` and a no-change
``sync_inventory()`` with --servers servers (median of --rounds); one live
migration from start to SUCCEEDED as the driver sees it (FakeLiveMigrateDriver
takes about 5 s by design, so this is Nova's orchestration plus that); an abort
from cancel() to the driver's FAILED (cancelled).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchdb import setup_django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_nova"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    from django.utils import timezone

    from automigrate.drivers.base import RUNNING
    from automigrate.drivers.openstack import OpenStackDriver
    from automigrate.models import Guest, Host, Migration
    from automigrate.platforms.openstack import OpenStackPlatform
    from automigrate.services.inventory import sync_inventory
    from tests.nova.conftest import _start

    work = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    nova = _start(work / "nova.log")
    ready = time.perf_counter() - started
    try:
        clouds = work / "clouds.yaml"
        clouds.write_text(json.dumps({"clouds": {"bench": {
            "auth_type": "admin_token", "auth": {"endpoint": nova.compute, "token": nova.token},
            "compute_endpoint_override": nova.compute}}}))
        os.environ.update(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="bench")
        from django.conf import settings

        settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "openstack", "DRIVER": ""}
        nova.api("PUT", "/os-quota-sets/admin", {"quota_set": {"cores": -1, "ram": -1, "instances": -1}}, mv="2.57")
        Migration.objects.all().delete()
        Guest.objects.all().delete()
        Host.objects.all().delete()
        for i in range(args.servers):
            nova.boot(f"bench-{i}", f"host{1 + i % 2}")
        platform = OpenStackPlatform()
        sync_inventory(platform)

        def median(fn):
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return statistics.median(times)

        read = median(platform.read_inventory)
        resync = median(lambda: sync_inventory(platform))

        def migrate(name, abort=False):
            guest = Guest.objects.get(name=name)
            target = Host.objects.exclude(pk=guest.host_id).get(name__in=("host1", "host2"))
            m = Migration.objects.create(guest=guest, source=guest.host, target=target,
                                         state=Migration.State.MIGRATING, started_at=timezone.now())
            driver = OpenStackDriver()
            t = time.perf_counter()
            m.driver_ref = driver.start(m, timezone.now())
            if abort:
                while not nova.api("GET", f"/servers/{guest.external_id}/migrations")["migrations"]:
                    time.sleep(0.05)
                t = time.perf_counter()
                driver.cancel(m)
            while (result := driver.poll(m, timezone.now())).status == RUNNING:
                time.sleep(0.2)
            took = time.perf_counter() - t
            sync_inventory(platform)
            return took, result

        moves = [migrate(f"bench-{i}") for i in range(args.rounds)]
        aborted = migrate(f"bench-{args.rounds}", abort=True)
        print(f"harness ready: {ready:.1f} s")
        print(f"read_inventory, {args.servers} servers / 2 hypervisors: {read * 1000:.0f} ms (median of {args.rounds})")
        print(f"sync_inventory, nothing changed: {resync * 1000:.0f} ms")
        print(f"live migration start -> {moves[0][1].status}: "
              f"{statistics.median(t for t, _ in moves):.1f} s (median of {args.rounds})")
        print(f"abort cancel() -> {aborted[1].status} ({aborted[1].error}): {aborted[0]:.1f} s")
    finally:
        nova.process.stdin.close()
        nova.process.wait(timeout=30)


if __name__ == "__main__":
    main()
