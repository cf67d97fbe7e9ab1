"""The simulator at scale: seeding places guests as the plain scan would, in O(log H) each; rounds go in whole."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.simulator import cluster, workloads


def _plain_placement(hosts: list[Host], seed: int, guests: int) -> list[str]:
    """The original quadratic algorithm: min over every fitting host of (share, name)."""
    rng = random.Random(seed)
    demand = {h.pk: 0.0 for h in hosts}
    free = {h.pk: h.mem_total * (1 - cluster.SEED_MEM_FREE) - cluster.HOST_RESERVED_BYTES for h in hosts}
    placed = []
    for _ in range(guests):
        vcpus, mb = rng.choices(cluster.FLAVOURS, weights=cluster.FLAVOUR_WEIGHTS)[0]
        workload = workloads.random_workload(rng)
        fits = [h for h in hosts if free[h.pk] >= mb * 1024**2]
        if not fits:
            break
        host = min(fits, key=lambda h: (demand[h.pk] / h.cpu_count, h.name))
        demand[host.pk] += vcpus * float(workload.get("level", 1.0))
        free[host.pk] -= mb * 1024**2
        placed.append(host.name)
    return placed


@pytest.mark.django_db
@pytest.mark.parametrize(("hosts", "guests", "seed"), [(7, 400, 3), (13, 2000, 5)])
def test_seeding_places_every_guest_where_the_plain_scan_would(hosts, guests, seed):
    # 13 hosts cannot hold 2000 guests: the cluster fills up, and both stop at the same guest.
    summary = cluster.seed_cluster(hosts=hosts, guests=guests, seed=seed, prefix="p")
    host_rows = list(Host.objects.order_by("name"))
    expected = _plain_placement(host_rows, seed, guests)
    placed = list(Guest.objects.order_by("pk").values_list("host__name", flat=True))
    assert placed == expected
    assert summary.guests == len(expected)
    if hosts == 13:
        assert summary.guests < guests  # full: the heaps ran out exactly where the scan found no host


@pytest.mark.django_db
def test_a_round_writes_every_sample_with_its_values():
    cluster.seed_cluster(hosts=3, guests=30, seed=2, prefix="r")
    now = timezone.now().replace(microsecond=0)
    hosts, guests = cluster.tick(now)
    assert (hosts, guests) == (6, 30)
    assert HostSample.objects.filter(time=now).count() == 6
    stored = GuestSample.objects.filter(time=now)
    assert stored.count() == 30
    assert all(0 <= cpu <= 100 for cpu in stored.values_list("cpu", flat=True))
    # The backfill writes one round per step, each a whole round.
    cluster.backfill(20, now=now + timedelta(seconds=60))
    per_time = GuestSample.objects.filter(time__gt=now).values_list("time", flat=True)
    assert len(per_time) == 30 * 3 and len(set(per_time)) == 3


@pytest.mark.django_db
def test_bulk_rows_keep_text_that_copy_would_misread(make_host):
    """Tabs, newlines and backslashes in names and JSON, and NULLs, arrive as they were (COPY on PostgreSQL)."""
    import json

    from automigrate.services.bulk import insert_rows

    host = make_host("h")
    now = timezone.now()
    name = "odd\tname\\with\nbreaks"
    workload = {"shape": "steady", "note": "back\\slash\ttab"}
    insert_rows(Guest, (*cluster.GUEST_SEED_COLUMNS, "last_migrated_at"),
                [(name, "", host.pk, 2, 1024, Guest.Status.RUNNING, "[]", json.dumps(workload), now, now, None)],
                json_fields=("labels", "workload"))
    guest = Guest.objects.get()
    assert (guest.name, guest.workload, guest.labels, guest.last_migrated_at) == (name, workload, [], None)
