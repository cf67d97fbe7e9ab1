"""The dashboard shows windows and violations, and its maintenance and repair buttons go through the services."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate.models import BlackoutWindow, Host, Migration
from automigrate.services.placement import create_group
from automigrate.services.rules import create_rule
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowded(make_host, make_guest):
    now = timezone.now()
    hosts = [make_host(f"h{i}") for i in (1, 2)]
    for h in hosts:
        write_samples(h, now, cpu=10.0, mem=200 * GIB)
    for name in ("db-1", "db-2"):
        write_guest_samples(make_guest(name, hosts[0], vcpu_count=2, vmem_size=1024), now, 10.0)
    create_group({"name": "db", "kind": "anti-affinity", "guests": ["db-1", "db-2"]})
    return hosts


def test_overview_lists_violations_and_blackouts(operator_client, crowded):
    BlackoutWindow.objects.create(name="backups", windows="daily 00:00-24:00")
    page = operator_client.get(reverse("dashboard:overview")).content.decode()
    assert "anti-affinity group db (must): db-1, db-2 share h1" in page
    assert "No migrations now: in the blackout window backups" in page
    assert 'id="repair-button"' in page
    assert "<script>" not in page  # scripts are static files (CSP without unsafe-inline)


def test_repair_button_starts_the_repair(operator_client, crowded):
    response = operator_client.post(reverse("dashboard:groups-repair"), follow=True)
    assert "repair of 1 violation(s)" in response.content.decode()
    assert Migration.objects.count() == 1


def test_viewers_see_no_buttons_and_cannot_post(viewer_client, crowded):
    page = viewer_client.get(reverse("dashboard:host", args=[crowded[0].pk])).content.decode()
    assert "maintenance-enter" not in page
    assert viewer_client.post(reverse("dashboard:host-maintenance", args=[crowded[0].pk]),
                              {"action": "enter"}).status_code == 403
    assert viewer_client.post(reverse("dashboard:groups-repair")).status_code == 403
    assert Host.objects.get(pk=crowded[0].pk).status == "online"


def test_host_page_button_enters_and_exits_maintenance(operator_client, crowded):
    url = reverse("dashboard:host-maintenance", args=[crowded[0].pk])
    page = operator_client.post(url, {"action": "enter"}, follow=True).content.decode()
    assert "evacuating h1: batch #" in page and 'id="maintenance-exit"' in page
    # db-1 and db-2 may not share h2: one stays, named with the reason.
    assert Migration.objects.count() == 1
    assert "anti-affinity group db" in page
    page = operator_client.post(url, {"action": "exit"}, follow=True).content.decode()
    assert "nothing moves back" in page and Host.objects.get(pk=crowded[0].pk).status == "online"


def test_rule_page_shows_its_window(operator_client):
    start = (timezone.now() + timedelta(hours=2)).hour  # cluster time is UTC in these tests
    spec = f"daily {start:02d}:00-{(start + 1) % 24:02d}:00"
    rule = create_rule({"name": "night", "metric": "cpu.usage_active", "threshold": 60, "allowed_windows": spec})
    page = operator_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    assert f"outside the allowed window ({spec}) until {start:02d}:00" in page
    assert f"migrations allowed again at {start:02d}:00" in page
