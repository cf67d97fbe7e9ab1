"""Every bad rule input gets a message on its field, and nothing is saved."""

import pytest
from django.core.exceptions import ValidationError

from automigrate.models import Event, MigrationRule
from automigrate.services.rules import create_rule, update_rule

pytestmark = pytest.mark.django_db


def errors_of(data, **kwargs):
    with pytest.raises(ValidationError) as info:
        create_rule(data, **kwargs)
    return info.value.message_dict


def test_it_refuses_a_cpu_threshold_over_100():
    errors = errors_of({"name": "hot", "metric": "cpu.usage_active", "threshold": 150})
    assert "0 < t <= 100" in errors["threshold"][0]
    assert not MigrationRule.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize("threshold", [0, -5, "abc"])
def test_it_refuses_other_bad_cpu_thresholds(threshold):
    assert "threshold" in errors_of({"name": "hot", "threshold": threshold})


def test_it_refuses_a_malformed_period():
    errors = errors_of({"name": "hot", "threshold": 60, "period": "5x"})
    assert "'5x' is not a period" in errors["period"][0]


def test_it_refuses_a_duplicate_name():
    create_rule({"name": "hot", "threshold": 60})
    errors = errors_of({"name": "hot", "threshold": 70})
    assert "already exists" in errors["name"][0]
    assert MigrationRule.objects.get(name="hot").threshold == 60


def test_it_refuses_a_host_in_both_source_and_target(make_host):
    a, b = make_host("a"), make_host("b")
    errors = errors_of({"name": "hot", "threshold": 60, "source_hosts": [a, b], "target_hosts": [b]})
    assert "b cannot be both a source and a target" in errors["target_hosts"][0]


def test_it_accepts_memory_thresholds_with_units():
    rule = create_rule({"name": "mem", "metric": "mem.available", "threshold": "8G", "period": "2m"})
    assert rule.threshold == 8 * 1024**3
    assert rule.period_seconds == 120
    assert rule.metric_type == "mem.available.lt"


def test_it_refuses_a_non_positive_memory_threshold():
    assert "threshold" in errors_of({"name": "mem", "metric": "mem.available", "threshold": "0"})


def test_a_failed_update_changes_nothing():
    rule = create_rule({"name": "hot", "threshold": 60, "period": "2m"})
    with pytest.raises(ValidationError):
        update_rule(rule, {"threshold": 150, "period": "1m"})
    rule.refresh_from_db()
    assert (rule.threshold, rule.period_seconds) == (60, 120)
    assert list(Event.objects.values_list("action", flat=True)) == ["create"]
