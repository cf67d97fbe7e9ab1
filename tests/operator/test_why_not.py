"""Why not, per guest: find_result_fail names every candidate with its reason and numbers."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from automigrate.engine import why_not
from automigrate.engine.explain import threshold_rejection
from automigrate.engine.model import CPU, Failure, Move, Plan, Skip
from automigrate.models import Event, Guest, Host
from automigrate.services import evaluate
from tests.evaluator.helpers import GIB, tune, write_guest_samples, write_samples

pytestmark = pytest.mark.django_db


def test_candidates_come_from_the_plans_own_reasons():
    plan = Plan(rule="r", policy="automigrate", metric="cpu.usage_active", threshold=60.0, result="find_result_fail")
    plan.moves = [Move("vm-d", "h1", "h4", 5, 4, 80, 75, 10, 14, "why")]
    # The text says 99 % on purpose: why_not reads the records, not the note.
    plan.failures = [Failure("h1", "vm-c", "not found target for guest vm-c: [host:h2:current(99.000000) + "
                                           "guest:vm-c:score(3.100000) >= threshold(60.000000)]",
                             rejections=(threshold_rejection(CPU, "h2", "vm-c", 61.2, 3.1, 60.0),),
                             reason="no_target")]
    plan.skipped = [
        Skip("cooldown", "vm-a", "h1", "migrated 3.0 min ago, cooldown is 30 min"),
        Skip("low_relief", "vm-b", "h1", "moving it would lower h1 by 0.90 points, less than 1",
             data={"relief": 0.4, "floor": 1.0}),
        Skip("cooldown", "vm-z", "other-host", "not this host"),
    ]
    lines = why_not.lines(why_not.candidates(plan, "h1"))
    assert lines == [
        "vm-d: planned → h4",
        "vm-c: no target (h2 61.20% + 3.10 >= 60.00%)",
        "vm-a: cooldown (migrated 3.0 min ago, cooldown is 30 min)",
        "vm-b: low relief (0.40 points, less than 1)",
    ]


def _nothing_can_move(two_hot_hosts, settings):
    """hot-cpu's guests: one in cooldown, one too small to be worth a copy."""
    now = two_hot_hosts.now
    tune(settings, MIN_RELIEF_PERCENT=5.0)
    host = Host.objects.create(name="lonely", cpu_count=8, mem_total=64 * GIB)
    write_samples(host, now, cpu=95.0, mem=40 * GIB)
    tiny = Guest.objects.create(name="tiny-vm", host=host, vcpu_count=1, vmem_size=1024)
    write_guest_samples(tiny, now, 10.0)
    recent = Guest.objects.create(name="recent-vm", host=host, vcpu_count=4, vmem_size=1024,
                                  last_migrated_at=now - timedelta(minutes=3))
    write_guest_samples(recent, now, 100.0)
    return two_hot_hosts.cpu_rule(mode="recommend", source_hosts=[host])


def test_a_decision_that_moved_nothing_names_each_guest(two_hot_hosts, settings, viewer_client, capsys):
    rule = _nothing_can_move(two_hot_hosts, settings)
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    event = Event.objects.get(rule_ref=rule.pk, action=Event.Action.FIND_RESULT_FAIL)
    assert "moved every movable guest" not in event.summary
    reasons = {c["guest"]: c["reason"] for c in event.notes["candidates"]}
    assert reasons == {"tiny-vm": "low_relief", "recent-vm": "cooldown"}
    assert "tiny-vm: low relief (1.25 points, less than 5)" in event.summary
    assert "recent-vm: cooldown (migrated 3.0 min ago" in event.summary

    api = viewer_client.get("/api/events/", {"action": "find_result_fail", "rule": rule.pk}).json()
    assert {c["guest"] for c in api["results"][0]["notes"]["candidates"]} == {"tiny-vm", "recent-vm"}
    page = viewer_client.get(reverse("dashboard:rule", args=[rule.pk])).content.decode()
    assert "tiny-vm: low relief" in page  # the rule page's event list shows the summary
    log = viewer_client.get(reverse("dashboard:events"), {"rule": rule.pk}).content.decode()
    assert 'data-testid="why-not"' in log and "<strong>recent-vm</strong>: cooldown" in log

    call_command("migrationalert", "events", rule.name, "--summary", "--time-zone", "Europe/Berlin")
    out = capsys.readouterr().out.splitlines()
    failure = next(line for line in out if "find_result_fail" in line)
    assert failure.split("  ")[0].endswith(" CET") and "tiny-vm: low relief" in failure
    assert all("notes" not in line for line in out)


def test_the_cli_refuses_an_unknown_zone_in_one_line(two_hot_hosts):
    from django.core.management.base import CommandError

    rule = two_hot_hosts.cpu_rule()
    with pytest.raises(CommandError, match="--time-zone: 'Mars/Base' is not a time zone"):
        call_command("migrationalert", "events", rule.name, "--time-zone", "Mars/Base")


def test_show_names_the_cli_creator_and_times_in_the_zone(capsys):
    call_command("migrationalert", "create", "cli-rule", "cpu.usage_active.gt", "60%")
    capsys.readouterr()
    call_command("migrationalert", "show", "cli-rule", "--time-zone", "Asia/Tokyo")
    out = capsys.readouterr().out
    created_by = next(line for line in out.splitlines() if "created_by" in line)
    assert "cli:" in created_by
    assert "+09:00" in out
