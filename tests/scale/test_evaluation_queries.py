"""An evaluation's query count is the same whether 1 host or many fire and cannot be relieved."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automigrate.models import Event, Guest, Host, MigrationRule
from automigrate.services import evaluate
from automigrate.services.rules import create_rule
from automigrate.sources.database import guest_window_means
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples


def _hot_cluster(firing: int, now):
    """``firing`` hosts over the threshold with nowhere to go (every host is hot), plus calm ones not accepting."""
    for i in range(firing):
        host = Host.objects.create(name=f"hot-{i:03d}", cpu_count=8, mem_total=64 * GIB)
        write_samples(host, now, cpu=95.0, mem=40 * GIB)
        guest = Guest.objects.create(name=f"vm-{i:03d}", host=host, vcpu_count=8, vmem_size=1024)
        write_guest_samples(guest, now, 100.0)


def _queries(mode: str, firing: int) -> tuple[int, int]:
    now = timezone.now()
    _hot_cluster(firing, now)
    rule = create_rule({"name": f"cpu-{mode}", "metric": "cpu.usage_active", "threshold": 60, "period": "2m",
                        "mode": mode})
    rule = MigrationRule.objects.get(pk=rule.pk)
    with CaptureQueriesContext(connection) as queries:
        evaluation = evaluate.evaluate_rule(rule, now=now)
    assert evaluation.result == evaluate.FIND_RESULT_FAIL
    failures = Event.objects.filter(action=Event.Action.FIND_RESULT_FAIL, rule_ref=rule.pk)
    assert failures.count() == firing  # one event per host that could not be relieved, all written
    assert all(e.source_host_name.startswith("hot-") for e in failures)
    return len(_decision_queries(queries)), firing


def _decision_queries(queries) -> list[str]:
    """The evaluation's own queries, without telemetry's counter upserts.

    Those (services.telemetry, for /metrics) insert a counter row the first time a duration
    bucket or result is seen and update it after: how many depends on how long this run took,
    never on how many hosts fired, so they would make the comparison flaky, not stricter.
    """
    return [q["sql"] for q in queries.captured_queries
            if "metriccounter" not in q["sql"] and "SAVEPOINT" not in q["sql"]]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [MigrationRule.Mode.RECOMMEND, MigrationRule.Mode.AUTOMATIC])
def test_query_count_does_not_grow_with_firing_hosts(mode):
    one, _ = _queries(mode, 1)
    Event.objects.all()._raw_delete(Event.objects.db)
    MigrationRule.objects.all().delete()
    for model in (Guest, Host):
        model.objects.all().delete()
    many, _ = _queries(mode, 40)
    assert one == many


@pytest.mark.django_db
def test_candidate_means_are_each_guests_own_window(make_host):
    now = timezone.now()
    host = make_host("h")
    a = Guest.objects.create(name="a", host=host, vcpu_count=1, vmem_size=512)
    b = Guest.objects.create(name="b", host=host, vcpu_count=1, vmem_size=512)
    silent = Guest.objects.create(name="silent", host=host, vcpu_count=1, vmem_size=512)
    write_guest_samples(a, now, 30.0)
    write_guest_samples(b, now, 70.0, seconds=300)  # older samples fall outside the 2-min window but count none
    means = guest_window_means(now - timedelta(seconds=120), now, [a.pk, b.pk, silent.pk])
    assert means == {a.pk: pytest.approx(30.0), b.pk: pytest.approx(70.0)}  # no samples: no mean
    assert guest_window_means(now - timedelta(seconds=120), now, []) == {}
