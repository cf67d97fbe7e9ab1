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


@pytest.mark.parametrize("period", ["2d", "99999999999999d", 1e20])
def test_it_refuses_a_period_over_a_day(period):
    errors = errors_of({"name": "hot", "threshold": 60, "period": period})
    assert errors["period"] == [f"'{period}' is too long: at most 1d"]
    assert not MigrationRule.objects.exists()


@pytest.mark.parametrize(
    ("threshold", "says"),
    [
        ("1.5", "is not a whole number of bytes"),
        (0.5, "is not a whole number of bytes"),
        ("2P", "is too large: a mem.available threshold is at most 1P"),
        (1e300, "is too large"),
        (float("inf"), "is too large"),
        (float("nan"), "more than 0 bytes"),
    ],
)
def test_a_memory_threshold_is_whole_bytes_up_to_a_petabyte(threshold, says):
    errors = errors_of({"name": "mem", "metric": "mem.available", "threshold": threshold})
    assert says in errors["threshold"][0]


def test_a_memory_threshold_of_exactly_a_petabyte_is_fine():
    assert create_rule({"name": "mem", "metric": "mem.available", "threshold": "1P"}).threshold == 1024**5


def test_changing_the_metric_needs_a_new_threshold():
    rule = create_rule({"name": "hot", "threshold": 60})
    with pytest.raises(ValidationError) as info:
        update_rule(rule, {"metric": "mem.available"})
    assert info.value.message_dict == {"threshold": ["give a new threshold when changing the metric"]}
    rule.refresh_from_db()
    assert (rule.metric, rule.threshold) == ("cpu.usage_active", 60)
    # Naming the same metric again is no change, and keeps the threshold.
    assert update_rule(rule, {"metric": "cpu.usage_active", "period": "2m"}).threshold == 60
    assert update_rule(rule, {"metric": "mem.available", "threshold": "8G"}).threshold == 8 * 1024**3


def test_find_rule_by_id_or_by_name():
    from automigrate.services.rules import find_rule

    rule = create_rule({"name": "hot", "threshold": 60})
    assert find_rule(str(rule.pk)) == rule
    assert find_rule("hot") == rule
    with pytest.raises(MigrationRule.DoesNotExist, match="no rule with id or name '99999999999999999999999'"):
        find_rule("99999999999999999999999")


def test_digits_that_are_one_rules_id_and_another_rules_name_are_refused_naming_both():
    from automigrate.services.rules import AmbiguousRule, find_rule

    first = create_rule({"name": "a7", "threshold": 60})
    second = create_rule({"name": str(first.pk), "threshold": 70})
    with pytest.raises(AmbiguousRule) as info:
        find_rule(str(first.pk))
    assert str(info.value) == (
        f"'{first.pk}' is rule #{first.pk} (a7) and also the name of rule #{second.pk}: use the id or rename"
    )
    # A rule named after its own id is no ambiguity.
    second.name = str(second.pk)
    second.save()
    assert find_rule(str(second.pk)) == second
