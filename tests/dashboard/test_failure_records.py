"""The event log and the preview draw failure tables from the engine's records, never from the note text."""

import html as html_lib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate.models import Event, GuestSample
from automigrate.services.events import record_event
from automigrate.services.rules import create_rule
from tests.dashboard.conftest import GIB, SEED_FAILURE, add_samples

pytestmark = pytest.mark.django_db

# A text a regex would read as h-fake at 1.00 %; the records beside it say h2 at 55 %.
FOOLING_TEXT = ("not found target for guest g: [host:h-fake:current(1.000000) + guest:g:score(2.000000)"
                " >= threshold(3.000000)]")


def failure_table(html: str) -> str:
    return html.split('class="table table-compact failure-table"')[1].split("</table>")[0]


def test_the_event_log_draws_the_table_from_the_records(viewer_client):
    record_event(Event.Action.FIND_RESULT_FAIL, "no target for g", notes={
        "host": "h1", "guest": "g", "notes": FOOLING_TEXT, "reason": "no_target", "not_listed": 4, "not_tried": 0,
        "scope": {}, "rejections": [
            {"target": "h2", "limit": "threshold", "reason": "over_threshold", "guest": "g", "current": 55.0,
             "score": 10.0, "limit_value": 60.0, "unit": "%"},
            {"target": "h3", "limit": "mem_floor", "reason": "under_mem_floor", "guest": "g", "current": 3 * GIB,
             "score": 8 * GIB, "limit_value": 2 * GIB, "unit": "bytes"},
        ],
    })
    html = viewer_client.get(reverse("dashboard:events"), {"action": "find_result_fail"}).content.decode()
    table = failure_table(html)
    assert "h2" in table and "55.00%" in table and "10.00%" in table and "≥ 60.00%" in table
    assert "memory floor" in table and "3.00 GiB" in table and "≤ 2.00 GiB" in table
    assert "... and 4 more" in table
    assert "h-fake" not in table and "1.00%" not in table
    assert "h-fake" in html.split("raw JSON")[1], "the text itself is still there, in the raw JSON"


def test_an_event_stored_before_the_records_shows_its_text_as_it_is(viewer_client):
    record_event(Event.Action.FIND_RESULT_FAIL, "no target for cpu-test-vm", notes={"notes": SEED_FAILURE,
                                                                                   "value": 66.53})
    html = viewer_client.get(reverse("dashboard:events"), {"action": "find_result_fail"}).content.decode()
    assert "failure-table" not in html
    legacy = html.split('data-testid="legacy-note">')[1].split("</pre>")[0]
    assert html_lib.unescape(legacy) == SEED_FAILURE
    assert "66.53" in html.split("legacy-note")[1].split("raw JSON")[0], "the other values are still listed"


def test_the_preview_draws_each_failure_from_its_records(operator_client, make_host, make_guest, settings):
    # The target is judged on its mean here (a forecast would raise what "Current" shows).
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "FORECAST": False}
    now = timezone.now()
    hot, full = make_host("hot"), make_host("full")
    add_samples([hot, full], {"hot": 85.0, "full": 59.0}, {"hot": 100 * GIB, "full": 100 * GIB}, now=now)
    big = make_guest("big", hot, vcpu_count=40)
    GuestSample.objects.bulk_create(GuestSample(guest=big, time=now - timedelta(seconds=30 * k), cpu=50.0)
                                    for k in range(4))
    rule = create_rule({"name": "hot-cpu", "metric": "cpu.usage_active", "threshold": 60, "period": "2m"})

    html = operator_client.post(reverse("dashboard:rule-preview", args=[rule.pk])).content.decode()
    table = failure_table(html.split('id="plan"')[1])
    assert "full" in table and "59.00%" in table and "50.00%" in table and "≥ 60.00%" in table
