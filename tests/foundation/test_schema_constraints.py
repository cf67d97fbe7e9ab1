"""Issue 10: the schema refuses nonsense, and every door (API, admin, CLI, the ORM) says so the same way."""

import io
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from automigrate.engine.model import MEM
from automigrate.models import Guest, Host, Migration, MigrationRule
from automigrate.services.rules import create_rule
from automigrate.simulator.cluster import _Inventory, _samples

pytestmark = pytest.mark.django_db

GIB = 1024**3


@pytest.fixture
def api(operator) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=operator)[0].key}")
    return client


def _refused_by_the_database(queryset, **values) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        queryset.update(**values)


# --- hosts and guests -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "message"),
    [("cpu_count", "a host's CPU count must be more than 0, got 0"),
     ("mem_total", "a host's memory size must be more than 0, got 0")],
)
def test_a_host_without_cpus_or_memory_is_refused_by_api_admin_and_database(api, staff_client, make_host, field,
                                                                             message):
    body = {"name": "h0", "cpu_count": 8, "mem_total": 64 * GIB, field: 0}
    response = api.post("/api/hosts/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [message]}

    form = {"name": "h0", "cpu_count": "8", "mem_total": str(64 * GIB), "host_type": "kvm", "cpu_arch": "x86_64",
            "enabled": "on", "status": "online", "labels": "[]", "external_id": "", field: "0"}
    page = staff_client.post(reverse("admin:automigrate_host_add"), form)
    assert page.status_code == 200
    assert page.context["adminform"].form.errors[field] == [message]
    assert not Host.objects.filter(name="h0").exists()

    host = make_host("h1")
    _refused_by_the_database(Host.objects.filter(pk=host.pk), **{field: 0})
    host.refresh_from_db()
    assert getattr(host, field) > 0


@pytest.mark.parametrize(
    ("field", "message"),
    [("vcpu_count", "a guest's vCPU count must be more than 0, got 0"),
     ("vmem_size", "a guest's memory size must be more than 0, got 0")],
)
def test_a_guest_without_vcpus_or_memory_is_refused_by_api_and_database(api, make_host, make_guest, field, message):
    make_host("h1")
    response = api.post("/api/guests/", {"name": "vm0", "host": "h1", "vcpu_count": 2, "vmem_size": 2048,
                                         field: 0}, format="json")
    assert response.status_code == 400 and response.json() == {field: [message]}
    guest = make_guest("vm1", Host.objects.get(name="h1"))
    _refused_by_the_database(Guest.objects.filter(pk=guest.pk), **{field: 0})


def test_the_simulator_tick_skips_a_host_it_cannot_compute():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    inventory = _Inventory(hosts=[(1, 0, 64 * GIB), (2, 8, 0), (3, 8, 64 * GIB)],
                           guests=[(10, 1, 2, 1024, {}), (11, 3, 2, 1024, {})])
    host_samples, guest_samples = _samples(inventory, at)  # no ZeroDivisionError
    assert {host for host, *_ in host_samples} == {3}  # rows are (host, metric, time, value)
    assert len(guest_samples) == 2


# --- rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"threshold": -5}, "threshold", "-5 is out of range: a cpu.usage_active threshold is 0 < t <= 100"),
        ({"period": "1s"}, "period", "'1s' is shorter than the minimum period of 10s"),
    ],
)
def test_a_nonsense_rule_is_refused_by_api_admin_and_cli_with_one_message(api, staff_client, changes, field,
                                                                          message):
    response = api.post("/api/rules/", {"name": "bad", "threshold": 60, **changes}, format="json")
    assert response.status_code == 400 and response.json() == {field: [message]}

    form = {"name": "bad", "metric": "cpu.usage_active", "threshold": "60", "period": "2m", "mode": "automatic",
            "enabled": "on", **{k: str(v) for k, v in changes.items()}}
    page = staff_client.post(reverse("admin:automigrate_migrationrule_add"), form)
    assert page.status_code == 200
    assert page.context["adminform"].form.errors[field] == [message]

    args = ["create", "bad", "cpu.usage_active.gt", str(changes.get("threshold", 60))]
    if "period" in changes:
        args += ["--period", changes["period"]]
    with pytest.raises(CommandError) as error:
        call_command("migrationalert", *args, stdout=io.StringIO())
    assert str(error.value) == f"{field}: {message}" and error.value.returncode == 2
    assert not MigrationRule.objects.exists()


@pytest.mark.parametrize(
    "values",
    [{"threshold": -5}, {"threshold": 0}, {"threshold": 150}, {"period_seconds": 1}, {"period_seconds": 0},
     {"period_seconds": 86401}, {"metric": MEM, "threshold": 2 * 1024**5}, {"metric": "disk.used"}],
)
def test_a_raw_update_to_a_nonsense_rule_raises_integrity_error(values):
    rule = create_rule({"name": "cpu", "threshold": 60, "period": "2m"})
    _refused_by_the_database(MigrationRule.objects.filter(pk=rule.pk), **values)
    rule.refresh_from_db()
    assert (rule.threshold, rule.period_seconds) == (60, 120)


def test_memory_thresholds_in_bytes_pass_the_constraint():
    rule = create_rule({"name": "mem", "metric": MEM, "threshold": "1P", "period": "5m"})
    MigrationRule.objects.filter(pk=rule.pk).update(threshold=512 * 1024**2)  # no error


def test_the_models_own_validation_names_the_field():
    rule = MigrationRule(name="x", threshold=-5, period_seconds=1)
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert error.value.message_dict["period_seconds"] == ["1s is shorter than the minimum period of 10s"]
    assert error.value.message_dict["threshold"] == [
        "-5 is out of range: a cpu.usage_active threshold is 0 < t <= 100"
    ]
    with pytest.raises(ValidationError) as error:
        Host(name="h", cpu_count=0, mem_total=1).full_clean()
    assert error.value.message_dict == {"cpu_count": ["a host's CPU count must be more than 0, got 0"]}


# --- one active migration per guest ---------------------------------------------------


def test_a_guest_has_at_most_one_active_migration(make_host, make_guest):
    source, target = make_host("a"), make_host("b")
    guest = make_guest("vm1", source)
    Migration.objects.create(guest=guest, source=source, target=target, state=Migration.State.SUCCEEDED)
    Migration.objects.create(guest=guest, source=source, target=target, state=Migration.State.PENDING)
    for state in (Migration.State.PENDING, Migration.State.MIGRATING):
        with pytest.raises(IntegrityError), transaction.atomic():
            Migration.objects.create(guest=guest, source=source, target=target, state=state)
    # Finished ones are history: any number of them.
    Migration.objects.create(guest=guest, source=source, target=target, state=Migration.State.FAILED)
    assert Migration.objects.filter(guest=guest).count() == 3
