"""Pages cost a fixed number of SQL queries, whatever the number of hosts, guests and events."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration
from automigrate.services.events import record_event
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db

GIB = 1024**3
# The overview also reads pending recommendations, migration windows and placement
# violations, and recent outside-call timeouts (the banner); what matters most is
# that counts do not grow with the cluster (test_query_counts_do_not_grow_with_the_cluster).
MAX_QUERIES = 20


def grow(prefix: str, host_count: int) -> list[Host]:
    """``host_count`` hosts with two guests each, 5 minutes of samples, events and migrations."""
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(name=f"{prefix}-{i:04d}", cpu_count=32, mem_total=256 * GIB) for i in range(host_count)
    )
    guests = Guest.objects.bulk_create(
        Guest(name=f"{host.name}-vm{j}", host=host, vcpu_count=4, vmem_size=4096) for host in hosts for j in range(2)
    )
    HostSample.objects.bulk_create(
        HostSample(host=host, metric=metric, time=now - timedelta(seconds=30 * k), value=value)
        for i, host in enumerate(hosts)
        for k in range(10)
        for metric, value in ((CPU, float(i % 100)), (MEM, 64.0 * GIB))
    )
    GuestSample.objects.bulk_create(
        GuestSample(guest=guest, time=now - timedelta(seconds=30 * k), cpu=40.0) for guest in guests for k in range(4)
    )
    rule = create_rule({"name": f"{prefix}-cpu", "metric": CPU, "threshold": 60, "period": "2m",
                        "source_hosts": hosts[: host_count // 2]})
    for i, guest in enumerate(guests[: host_count // 2]):
        migration = Migration.objects.create(
            guest=guest, source=guest.host, target=hosts[-1], rule=rule,
            state=Migration.State.MIGRATING if i % 10 == 0 else Migration.State.SUCCEEDED,
            started_at=now - timedelta(minutes=3), finished_at=None if i % 10 == 0 else now - timedelta(minutes=1),
        )
        record_event(Event.Action.MIGRATING, f"moving {guest.name}", rule=rule, guest=guest,
                     source_host=guest.host, target_host=hosts[-1], migration=migration,
                     notes={"guest": {"name": guest.name, "host": guest.host.name, "score": 5.0},
                            "target_host": {"name": hosts[-1].name, "score": 20.0}})
    return hosts


def urls(hosts: list[Host]) -> list[str]:
    rule = hosts[0].rules_watching.first()
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:overview-live"),
        reverse("dashboard:host", args=[hosts[0].pk]),
        reverse("dashboard:host-chart", args=[hosts[-1].pk]) + "?range=24h",
        reverse("dashboard:rules"),
        reverse("dashboard:rule", args=[rule.pk]),
        reverse("dashboard:rule-live", args=[rule.pk]),
        reverse("dashboard:events"),
        reverse("dashboard:events") + f"?host={hosts[-1].name}&action=migrating",
        reverse("dashboard:migrations"),
    ]


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries)


def test_pages_at_200_hosts_stay_under_the_query_budget(viewer_client, django_assert_max_num_queries):
    hosts = grow("big", 200)
    for url in urls(hosts):
        with django_assert_max_num_queries(MAX_QUERIES):
            assert viewer_client.get(url).status_code == 200, url


def test_query_counts_do_not_grow_with_the_cluster(viewer_client):
    small = [count_queries(viewer_client, url) for url in urls(grow("small", 10))]
    large = [count_queries(viewer_client, url) for url in urls(grow("large", 200))]
    assert large == small
