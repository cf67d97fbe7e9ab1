"""The smaller items of the operator's day: 404, favicon, admin wording, examples, relative times."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from dashboard.templatetags.dashboard_tags import ago

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", ["/no-such-page/", "/rules/999999/", "/hosts/424242/"])
def test_404_is_our_page_even_with_debug_on(viewer_client, path):
    response = viewer_client.get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing lives at this address" in html and "URLconf" not in html and "urlpatterns" not in html


@pytest.mark.django_db
def test_unmatched_addresses_keep_append_slash_and_api_404s_stay_json(viewer_client):
    assert viewer_client.get("/rules").headers["Location"] == "/rules/"
    response = viewer_client.get("/api/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "not found: /api/nothing-here/"}


@pytest.mark.django_db
def test_favicon_is_served_locally(viewer_client):
    html = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'rel="icon" href="/static/dashboard/favicon.svg"' in html
    assert (ROOT / "static" / "dashboard" / "favicon.svg").read_text().startswith("<svg")


@pytest.mark.django_db
def test_admin_says_batches_and_keeps_celery_schedules_read_only(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert "Migration batches" in index and "Migration batchs" not in index
    periodic = staff_client.get("/admin/django_celery_beat/periodictask/add/")
    assert periodic.status_code == 403
    assert staff_client.get("/admin/django_celery_beat/intervalschedule/").status_code == 404


@pytest.mark.parametrize(("seconds", "text"), [(0, "just now"), (42, "42 s ago"), (180, "3 min ago"),
                                               (3900, "1 h 5 min ago"), (7200, "2 h ago"), (86400 * 3, "3 days ago")])
def test_relative_times_never_say_0_minutes(seconds, text):
    assert ago(timezone.now() - timedelta(seconds=seconds)) == text


def test_the_example_files_run_as_the_readme_says():
    plan = subprocess.run([sys.executable, "manage.py", "plan", "--scenario", "examples/scenario.json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["triggered"][0]["host"] == "a15"
    simulate = subprocess.run([sys.executable, "manage.py", "simulate", "--trace", "examples/trace.json", "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert simulate.returncode == 0, simulate.stderr
    assert json.loads(simulate.stdout)["migrations"] >= 1
    readme = (ROOT / "README.md").read_text()
    assert "../shared/" not in readme and "examples/trace.json" in readme


@pytest.mark.django_db
def test_the_event_log_refreshes_in_place_and_the_clock_is_the_servers(viewer_client):
    from automigrate.services.events import record_event

    page = viewer_client.get(reverse("dashboard:events")).content.decode()
    assert f'data-live-url="{reverse("dashboard:events-live")}"' in page
    record_event("skip", "a fresh decision")
    live = viewer_client.get(reverse("dashboard:events-live"), {"action": "skip"}).json()
    assert "a fresh decision" in live["fragments"]["events-table"]
    assert live["clock"].endswith(" UTC")


@pytest.mark.django_db
def test_the_display_zone_is_chosen_stored_and_used(viewer_client, viewer):
    from automigrate.models import UserPreference

    bad = viewer_client.post(reverse("dashboard:preferences"), {"time_zone": "Mars/Base"})
    assert "is not a time zone" in bad.content.decode() and not UserPreference.objects.exists()
    viewer_client.post(reverse("dashboard:preferences"), {"time_zone": "America/New_York"})
    assert UserPreference.objects.get(user=viewer).time_zone == "America/New_York"
    html = viewer_client.get(reverse("dashboard:events")).content.decode()
    assert "Since (America/New_York)" in html and ">America/New_York</a>" in html
