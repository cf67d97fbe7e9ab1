"""`manage.py migrationalert import-cloudpods`: the monitor's migration alerts as recommend-mode rules."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from automigrate.models import Event, MigrationRule
from automigrate.services.cloudpods_import import go_duration_seconds, rule_data
from tests.cloudpods.conftest import point_at

GiB = 1024**3


@pytest.fixture
def alerts(cloudpods):
    ids = {"busy": cloudpods.add_host("test-66-onecloud02"), "a15": cloudpods.add_host("a15"),
           "h3": cloudpods.add_host("h3")}
    ids["vm"] = cloudpods.add_server("cpu-test-vm", ids["busy"])
    cloudpods.add_alert("test-cpu", "cpu.usage_active", 60, "2m", source_hosts=[ids["busy"]])
    cloudpods.add_alert("target-host-cpu", "cpu.usage_active", 80, "5m", target_hosts=[ids["a15"], ids["h3"]])
    cloudpods.add_alert("host-gst-cpu", "cpu.usage_active", 80, "1h30m", source_guests=[ids["vm"]], enabled=False)
    cloudpods.add_alert("all-host-mem", "mem.available", 2 * GiB, "5m", customize_config={})
    cloudpods.add_alert("ghost-host", "cpu.usage_active", 70, "5m", source_hosts=["deadbeef-0000"])
    cloudpods.add_alert("disk", "disk.used_percent", 90, "5m")
    cloudpods.alerts[-1]["settings"]["conditions"][0]["evaluator"]["type"] = "gt"
    return ids


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("migrationalert", *args, stdout=out)
    return out.getvalue()


def test_alerts_become_recommend_rules_with_their_hosts_and_guests(alerts, cloudpods):
    out = run("import-cloudpods")
    rules = {r.name: r for r in MigrationRule.objects.all()}
    assert set(rules) == {"test-cpu", "target-host-cpu", "host-gst-cpu", "all-host-mem"}
    assert all(r.mode == MigrationRule.Mode.RECOMMEND for r in rules.values())
    cpu = rules["test-cpu"]
    assert (cpu.metric, cpu.threshold, cpu.period_seconds) == ("cpu.usage_active", 60, 120)
    assert [h.name for h in cpu.source_hosts.all()] == ["test-66-onecloud02"]
    assert sorted(h.name for h in rules["target-host-cpu"].target_hosts.all()) == ["a15", "h3"]
    guest_rule = rules["host-gst-cpu"]
    assert [g.name for g in guest_rule.source_guests.all()] == ["cpu-test-vm"]
    assert guest_rule.period_seconds == 5400 and not guest_rule.enabled  # disabled in Cloudpods: disabled here
    mem = rules["all-host-mem"]
    assert (mem.metric, mem.threshold, mem.source_hosts.count()) == ("mem.available", 2 * GiB, 0)
    assert Event.objects.filter(action=Event.Action.CREATE).count() == 4  # through the rule service
    assert "ghost-host" in out and "source host deadbeef-0000 is not in the inventory" in out
    assert "metric_type 'disk.used_percent' is not balanced here" in out
    assert "4 rule(s) created in recommend mode, 2 not mapped." in out
    assert "Now disable the originals in Cloudpods" in out
    assert cloudpods.calls_to("GET", "/monitor/migrationalerts")[0]["query"]["scope"] == "system"


def test_importing_twice_creates_nothing_new(alerts):
    run("import-cloudpods")
    out = run("import-cloudpods")
    assert MigrationRule.objects.count() == 4
    assert "a rule named 'test-cpu' already exists (imported before?)" in out
    assert "0 rule(s) created" in out and "disable the originals" not in out


def test_an_unreadable_monitor_is_one_line(cloudpods, settings):
    point_at(settings, cloudpods, PASSWORD="wrong")
    with pytest.raises(CommandError, match=r"^Cloudpods' migration alerts not read: Keystone refused user 'admin'"):
        run("import-cloudpods")


def test_without_credentials_it_names_the_variables(settings, db):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE,
                            "CLOUDPODS": {**settings.AUTOMIGRATE["CLOUDPODS"], "AUTH_URL": "", "USERNAME": "x"}}
    with pytest.raises(CommandError, match=r"^Cloudpods is not configured: set AUTOMIGRATE_CLOUDPODS_AUTH_URL"):
        run("import-cloudpods")


def test_the_listed_shape_is_read_not_the_create_input():
    alert = {"id": "x", "name": "n", "metric_type": "cpu.usage_active", "enabled": True,
             "threshold": 10, "period": "1m",  # create-only fields: must be ignored
             "settings": {"conditions": [{"evaluator": {"type": "gt", "params": [75.5]}, "query": {"from": "3m"}}]}}
    data = rule_data(alert)
    assert (data["threshold"], data["period"]) == (75.5, 180)
    del alert["settings"]["conditions"][0]["query"]["from"]
    alert["frequency"] = 240
    assert rule_data(alert)["period"] == 240
    alert["settings"]["conditions"][0]["evaluator"]["type"] = "lt"
    with pytest.raises(ValueError, match=r"cpu\.usage_active with evaluator 'lt'"):
        rule_data(alert)
    assert go_duration_seconds("1h30m") == 5400 and go_duration_seconds("90s") == 90
    with pytest.raises(ValueError, match="not a Go duration"):
        go_duration_seconds("5 minutes")
