"""The overview judges "hot" on each rule's own window and marks hosts settling after a batch."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import HostSample, MigrationBatch, MigrationRule
from automigrate.services.rules import create_rule
from dashboard import queries

pytestmark = pytest.mark.django_db
GIB = 1024**3


def _samples(host, now, values):
    """values: (seconds ago, cpu %) pairs, memory plentiful."""
    HostSample.objects.bulk_create(
        sample for ago, cpu in values
        for sample in (HostSample(host=host, metric=CPU, time=now - timedelta(seconds=ago), value=cpu),
                       HostSample(host=host, metric=MEM, time=now - timedelta(seconds=ago), value=100 * GIB))
    )


def test_hot_is_the_rules_own_window_not_the_last_minute(make_host):
    now = timezone.now()
    calmed = make_host("calmed")  # busy until a minute ago: the 5-minute rule still sees 70 %
    _samples(calmed, now, [(s, 10.0 if s < 60 else 85.0) for s in range(0, 300, 10)])
    create_rule({"name": "slow", "metric": CPU, "threshold": 60, "period": "5m"})
    row = {r.name: r for r in queries.host_rows(now)[0]}["calmed"]
    assert row.cpu is not None and row.cpu < 60  # the shown "now" value is calm
    assert row.cpu_hot  # ... but the rule, on its own window, still fires: the overview says so


def test_a_host_just_relieved_is_marked_settling(viewer_client, make_host):
    now = timezone.now()
    host = make_host("relieved")
    _samples(host, now, [(s, 30.0) for s in range(0, 120, 10)])
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "5m"})
    MigrationBatch.objects.create(rule=rule, rule_name=rule.name, state=MigrationBatch.State.FINISHED,
                                  started_at=now - timedelta(minutes=2), finished_at=now - timedelta(seconds=30),
                                  hosts=["relieved"])
    MigrationRule.objects.filter(pk=rule.pk).update(last_batch_finished_at=now - timedelta(seconds=30))
    response = viewer_client.get(reverse("dashboard:overview"))
    rows = {r.name: r for r in response.context["hosts_page"]}
    assert rows["relieved"].settling
    html = response.content.decode()
    assert 'data-testid="settling-count">1 settling' in html and "state-settling" in html
