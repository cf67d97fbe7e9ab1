"""The dashboard's read side: counts, sorting, the firing test, pending recommendations, the lock."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Migration, MigrationLock, MigrationRule
from automigrate.services.events import record_event
from dashboard import queries
from dashboard.templatetags.dashboard_tags import threshold

pytestmark = pytest.mark.django_db


# --- 1. the in-flight tile counts every migration, the table stays capped ------------


def test_in_flight_tile_counts_past_the_table_cap(viewer_client, cluster, make_guest):
    source, target = cluster.hosts[3], cluster.hosts[4]
    extra = queries.MAX_IN_FLIGHT_SHOWN + 10
    Migration.objects.bulk_create(
        Migration(guest=make_guest(f"bulk-{i:03d}", source), source=source, target=target,
                  state=Migration.State.PENDING)
        for i in range(extra)
    )
    response = viewer_client.get(reverse("dashboard:overview"))
    assert response.context["summary"]["in_flight"] == extra + 1  # + the cluster's own migrating one
    assert len(response.context["inflight"]) == queries.MAX_IN_FLIGHT_SHOWN
    html = response.content.decode()
    assert f"Showing the oldest {queries.MAX_IN_FLIGHT_SHOWN} of {extra + 1}" in html


# --- 4. missing values sort last in both directions ---------------------------------


@pytest.mark.parametrize("sort", ["cpu", "-cpu", "mem", "-mem"])
def test_hosts_without_data_sort_last_both_ways(cluster, make_host, sort):
    make_host("aaa-silent")
    rows, _ = queries.host_rows()
    ordered, applied = queries.sort_rows(rows, sort)
    assert applied == sort
    assert ordered[-1].name == "aaa-silent"
    values = [row.cpu if "cpu" in sort else row.mem for row in ordered[:-1]]
    assert values == sorted(values, reverse=sort.startswith("-"))


# --- 5. the engine's firing test, including its skip of hosts without cores ----------


def test_a_host_the_engine_would_skip_cannot_be_stored(cluster, make_host):
    # A host with 0 cores (the engine never fires on one, see host_fires below) is refused
    # by the database itself since migration 0006, so no page can meet one.
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        make_host("zero-cores", cpu_count=0)


def test_host_fires_is_the_engines_trigger():
    assert queries.host_fires(61, CPU, 60, 8) and not queries.host_fires(60, CPU, 60, 8)
    assert queries.host_fires(1.0, MEM, 2.0, 8) and not queries.host_fires(2.0, MEM, 2.0, 8)
    assert not queries.host_fires(None, CPU, 60, 8) and not queries.host_fires(99, CPU, None, 8)
    assert not queries.host_fires(99, CPU, 60, 0)


# --- 3. only the latest, still-standing recommendation gets an Approve button ---------


def _recommend(rule, text="move vm-0-0"):
    return record_event(Event.Action.RECOMMEND, text, rule=rule, notes={"moves": []})


def test_only_the_latest_recommendation_is_pending(viewer_client, cluster):
    rule = cluster.cpu_rule
    old, latest = _recommend(rule, "first"), _recommend(rule, "again")
    assert queries.pending_recommendations(rule) == [latest]
    html = viewer_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    assert reverse("dashboard:rule-approve", args=[rule.pk, old.pk]) not in html


@pytest.mark.parametrize("action", [Event.Action.NOT_TRIGGERED, Event.Action.FIND_RESULT_FAIL,
                                    Event.Action.MIGRATING])
def test_a_later_decision_of_the_rule_supersedes_its_recommendation(cluster, action):
    rule = cluster.cpu_rule
    _recommend(rule)
    record_event(action, f"later {action}", rule=rule)
    assert queries.pending_recommendations(rule) == []


def test_other_rules_events_do_not_supersede(cluster):
    rule = cluster.cpu_rule
    latest = _recommend(rule)
    record_event(Event.Action.NOT_TRIGGERED, "the memory rule is calm", rule=cluster.mem_rule)
    assert queries.pending_recommendations(rule) == [latest]


def test_a_batch_finished_after_the_recommendation_makes_it_stale(cluster):
    rule = cluster.cpu_rule
    latest = _recommend(rule)
    MigrationRule.objects.filter(pk=rule.pk).update(last_batch_finished_at=latest.time - timedelta(seconds=5))
    rule.refresh_from_db()
    assert queries.pending_recommendations(rule) == [latest]
    MigrationRule.objects.filter(pk=rule.pk).update(last_batch_finished_at=timezone.now() + timedelta(seconds=1))
    rule.refresh_from_db()
    assert queries.pending_recommendations(rule) == []


# --- 8. one threshold formatter --------------------------------------------------------


def test_threshold_filter_is_the_rules_own_display(cluster):
    assert threshold(cluster.mem_rule.threshold, MEM) == cluster.mem_rule.threshold_display == "16G"
    assert threshold(60.0, CPU) == cluster.cpu_rule.threshold_display == "60%"
    assert threshold(None, CPU) == "—"


# --- 9. the lock is read once per page ---------------------------------------------------


@pytest.mark.parametrize("url_name", ["dashboard:rule", "dashboard:rules"])
def test_rule_pages_read_the_lock_once(viewer_client, cluster, url_name):
    url = reverse(url_name, args=[cluster.cpu_rule.pk]) if url_name == "dashboard:rule" else reverse(url_name)
    table = MigrationLock._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert viewer_client.get(url).status_code == 200
    reads = [q["sql"] for q in captured.captured_queries if f'FROM "{table}"' in q["sql"]]
    assert len(reads) == 1, reads


def test_progress_is_estimated_from_elapsed_time(cluster):
    migration = Migration.objects.get(state=Migration.State.MIGRATING)
    now = migration.started_at + timedelta(seconds=1)
    assert 0 < queries.estimated_progress(migration, now) < queries.estimated_progress(
        migration, now + timedelta(seconds=5)) <= 0.99
