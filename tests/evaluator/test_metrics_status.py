"""Window means in one query per table, retention, and the dashboard's status reads."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample, MigrationRule
from automigrate.services import evaluate, execution, metrics, status
from automigrate.services.rules import create_rule
from tests.evaluator.helpers import GIB, tune


@pytest.mark.django_db
def test_window_means_are_one_query_per_table_and_ignore_old_samples(two_hot_hosts, django_assert_num_queries):
    HostSample.objects.create(host=two_hot_hosts.hot_cpu, metric=CPU, value=0.0,
                              time=two_hot_hosts.now - timedelta(minutes=10))
    with django_assert_num_queries(2):
        means = metrics.window_means(120, two_hot_hosts.now)
    assert means.hosts[two_hot_hosts.hot_cpu.pk] == {CPU: 65.0, MEM: 200 * GIB}
    assert means.guests[two_hot_hosts.busy.pk] == 100.0


@pytest.mark.django_db
def test_prune_deletes_samples_past_retention_only(two_hot_hosts, settings):
    tune(settings, SAMPLE_RETENTION_DAYS=1)
    old = two_hot_hosts.now - timedelta(days=2)
    HostSample.objects.create(host=two_hot_hosts.hot_cpu, metric=CPU, value=1.0, time=old)
    GuestSample.objects.create(guest=two_hot_hosts.busy, cpu=1.0, time=old)
    kept_hosts, kept_guests = HostSample.objects.count() - 1, GuestSample.objects.count() - 1
    metrics.prune_samples(two_hot_hosts.now)  # PostgreSQL drops the old day's partitions, SQLite deletes rows
    assert (HostSample.objects.count(), GuestSample.objects.count()) == (kept_hosts, kept_guests)


@pytest.mark.django_db
def test_an_evaluation_uses_a_fixed_number_of_queries_whatever_the_cluster_size(two_hot_hosts):
    rule = create_rule({"name": "calm", "metric": CPU, "threshold": 90, "period": "2m"})
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)

    def queries() -> list[str]:
        # The evaluation after a change reports it (an event, once): measure the steady state after it.
        evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
        with CaptureQueriesContext(connection) as captured:
            evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
        # /metrics' own counters (services.telemetry) add a row the first time an evaluation's
        # duration lands in a new histogram bucket: that depends on the machine's load, not the cluster.
        return [q["sql"] for q in captured.captured_queries if "automigrate_metriccounter" not in q["sql"]]

    small = queries()
    for i in range(30):
        host = Host.objects.create(name=f"extra-{i}", cpu_count=8, mem_total=64 * GIB)
        Guest.objects.create(name=f"extra-vm-{i}", host=host, vcpu_count=1, vmem_size=512)
    large = queries()
    assert len(large) == len(small)
    # 12, plus the forecasts' savepoint (2), history, yesterday's and a week ago's roll-ups and
    # the hosts' latest migrations (services.forecasts), one query each.
    assert len(large) <= 17


@pytest.mark.django_db
def test_rule_states_cover_each_phase_in_one_query(two_hot_hosts, django_assert_num_queries):
    now = two_hot_hosts.now
    cpu_rule, mem_rule = two_hot_hosts.cpu_rule(), two_hot_hosts.mem_rule()
    calm = create_rule({"name": "calm", "metric": CPU, "threshold": 99, "period": "2m"})
    off = create_rule({"name": "off", "metric": CPU, "threshold": 99, "period": "2m", "enabled": False})
    evaluate.evaluate_rule(cpu_rule, now=now)
    evaluate.evaluate_rule(mem_rule, now=now)
    evaluate.evaluate_rule(calm, now=now)
    rules = list(MigrationRule.objects.all())

    with django_assert_num_queries(1):
        states = status.rule_states(rules, now=now)
    assert states == {cpu_rule.pk: "migrating", mem_rule.pk: "waiting_for_lock", calm.pk: "idle", off.pk: "disabled"}
    lock = status.lock_status(now)
    assert lock["held"] and lock["rule_name"] == "cpu-rule" and lock["migrating"] == 1 and not lock["expired"]

    execution.watch_migrations(now + timedelta(seconds=10))
    states = status.rule_states(MigrationRule.objects.all(), now=now + timedelta(seconds=20))
    assert states[cpu_rule.pk] == "settling"
    assert states[mem_rule.pk] == "firing"
    assert not status.lock_status()["held"]
    assert status.rule_states(MigrationRule.objects.all(), now=timezone.now() + timedelta(minutes=3))[
        cpu_rule.pk] == "idle"
