"""The event log: newest first, paged, filtered by rule, action, host, guest and time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from automigrate.models import Event
from automigrate.services.events import record_event
from dashboard import pages

pytestmark = pytest.mark.django_db


def rows(client, **params):
    page = client.get(reverse("dashboard:events"), params).context["events_page"]
    return [(event.action, event.summary) for event in page]


def test_newest_first(viewer_client, cluster):
    listed = viewer_client.get(reverse("dashboard:events")).context["events_page"]
    times = [event.time for event in listed]
    assert times == sorted(times, reverse=True)
    assert listed[0].action == "find_result_fail"


def test_filter_by_action(viewer_client, cluster):
    assert rows(viewer_client, action="find_result_fail") == [("find_result_fail", "no target for cpu-test-vm")]


def test_filter_by_rule(viewer_client, cluster):
    actions = [action for action, _ in rows(viewer_client, rule=cluster.mem_rule.pk)]
    assert actions == ["create"]


def test_filter_by_host_matches_source_or_target(viewer_client, cluster):
    as_target = [action for action, _ in rows(viewer_client, host="node-004")]
    as_source = [action for action, _ in rows(viewer_client, host="node-002")]
    assert as_target == ["migrate_success", "migrating"]
    assert as_source == ["find_result_fail"]


def test_filter_by_guest(viewer_client, cluster):
    assert [action for action, _ in rows(viewer_client, guest="vm-0-0")] == ["migrate_success", "migrating"]
    assert rows(viewer_client, guest="no-such-vm") == []


def test_filter_by_time_range(viewer_client, cluster):
    old = record_event(Event.Action.SKIP, "an old skip", rule=cluster.cpu_rule)
    # Events are append-only through the ORM: back-date this one in SQL.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Event._meta.db_table} SET time = %s WHERE id = %s",
                       [timezone.now() - timedelta(days=3), old.pk])
    two_days_ago = (timezone.localtime() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    recent = rows(viewer_client, since=two_days_ago)
    assert ("skip", "an old skip") not in recent and len(recent) >= 4
    assert rows(viewer_client, until=two_days_ago) == [("skip", "an old skip")]


def test_filters_combine(viewer_client, cluster):
    assert rows(viewer_client, host="node-004", action="migrating") == [("migrating", "migrating vm-0-0 to node-004")]


def test_bad_filter_input_says_so_and_lists_nothing(viewer_client, cluster):
    response = viewer_client.get(reverse("dashboard:events"), {"since": "yesterday-ish"})
    assert list(response.context["events_page"]) == []
    html = response.content.decode()
    error = html.split('data-testid="filter-error">')[1].split("</div>")[0]
    assert error.strip().startswith("since: Enter a valid date/time: YYYY-MM-DDTHH:MM, read in your display time zone")
    assert "No events shown: a filter above is invalid." in html


def test_paged(viewer_client, cluster):
    for i in range(pages.EVENTS_PER_PAGE + 5):
        record_event(Event.Action.SKIP, f"skip {i}", rule=cluster.cpu_rule)
    first = viewer_client.get(reverse("dashboard:events")).context["events_page"]
    assert len(first) == pages.EVENTS_PER_PAGE and first.has_next and not first.has_previous
    second = viewer_client.get(reverse("dashboard:events"), {"before": first.next_cursor}).context["events_page"]
    assert first[0].summary == f"skip {pages.EVENTS_PER_PAGE + 4}"
    assert {e.pk for e in first}.isdisjoint({e.pk for e in second})
    total = Event.objects.count()
    assert len(first) + len(second) == total and not second.has_next
    assert str(first.count) == f"{total:,}"  # small tables are counted exactly
    # Back to the newer page through its own link: the same rows as the first.
    back = viewer_client.get(reverse("dashboard:events"), {"after": second.previous_cursor}).context["events_page"]
    assert [e.pk for e in back] == [e.pk for e in first] and not back.has_previous


def test_notes_are_rendered_for_people_with_raw_json_behind_details(viewer_client, cluster):
    html = viewer_client.get(reverse("dashboard:events"), {"action": "find_result_fail"}).content.decode()
    table = html.split('class="table table-compact failure-table"')[1].split("</table>")[0]
    assert "test-69-onecloud01" in table and "55.31%" in table and "59.68%" in table and "≥ 60.00%" in table
    assert "<details" in html and "raw JSON" in html
    moves = viewer_client.get(reverse("dashboard:events"), {"action": "migrating"}).content.decode()
    assert "(score 10.77%)" in moves and "<strong>node-004</strong>" in moves


def test_links_lead_to_rule_hosts_and_guest(viewer_client, cluster):
    html = viewer_client.get(reverse("dashboard:events"), {"action": "migrating"}).content.decode()
    assert reverse("dashboard:rule", args=[cluster.cpu_rule.pk]) in html
    assert reverse("dashboard:host", args=[cluster.hosts[3].pk]) in html
    assert "?guest=vm-0-0" in html
