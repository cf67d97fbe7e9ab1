"""The API speaks the CLI's language: metric_type on write, 8G and 60% thresholds, suspicious values refused."""

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Host, MigrationRule
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db
RULES = "/api/rules/"
GIB = 1024**3


def test_metric_type_on_write_creates_the_metric_it_names(operator_client):
    response = operator_client.post(RULES, {"name": "low", "metric_type": "mem.available.lt", "threshold": "8G"},
                                    content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["metric"] == MEM and body["metric_type"] == "mem.available.lt" and body["threshold"] == 8 * GIB
    assert MigrationRule.objects.get(name="low").metric == MEM


def test_metric_type_disagreeing_with_metric_is_refused(operator_client):
    response = operator_client.post(
        RULES, {"name": "x", "metric": CPU, "metric_type": "mem.available.lt", "threshold": 60},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "disagrees with metric cpu.usage_active" in response.json()["metric_type"][0]
    assert not MigrationRule.objects.filter(name="x").exists()


def test_unknown_metric_type_is_a_400_naming_the_choices(operator_client):
    response = operator_client.post(RULES, {"name": "x", "metric_type": "cpu.lt", "threshold": 60},
                                    content_type="application/json")
    assert response.status_code == 400 and "metric_type" in response.json()


def test_cpu_threshold_accepts_a_percent_sign(operator_client):
    response = operator_client.post(RULES, {"name": "busy", "metric_type": "cpu.usage_active.gt", "threshold": "60%"},
                                    content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["threshold"] == 60.0


@pytest.mark.parametrize("raw", [150, "150", "1M"])
def test_a_memory_threshold_under_64m_is_refused_with_the_unit_to_write(operator_client, raw):
    response = operator_client.post(RULES, {"name": "tiny", "metric": MEM, "threshold": raw},
                                    content_type="application/json")
    assert response.status_code == 400
    message = response.json()["threshold"][0]
    assert "under 64M" in message and "never fires" in message
    if raw != "1M":
        assert "150G" in message
    assert not Event.objects.filter(rule_name="tiny").exists()


@pytest.mark.parametrize("raw", ["8G", "8Gi", "8GiB", "8GB", "8 G"])
def test_binary_size_spellings_all_mean_gib(raw):
    assert create_rule({"name": f"m-{raw}", "metric": MEM, "threshold": raw}).threshold == 8 * GIB


def test_lowercase_b_reads_as_bits_and_is_refused(operator_client):
    response = operator_client.post(RULES, {"name": "bits", "metric": MEM, "threshold": "8Gb"},
                                    content_type="application/json")
    assert response.status_code == 400
    assert "lowercase b means bits; write 8G" in response.json()["threshold"][0]


def test_the_metric_type_filter_and_cli_share_one_map():
    from automigrate import filters
    from automigrate.engine import model
    from automigrate.management.commands import migrationalert

    assert filters.METRIC_TYPES is model.METRIC_TYPES is migrationalert.METRIC_TYPES


def test_refused_deletes_are_409_from_the_one_handler(staff_client, make_host, make_guest):
    host = make_host("busy-host")
    make_guest("vm", host)
    response = staff_client.delete(f"/api/hosts/{host.pk}/")
    assert response.status_code == 409 and "still has guests" in response.json()["detail"]
    assert Host.objects.filter(pk=host.pk).exists()
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "source_hosts": [make_host("listed")]})
    listed = rule.source_hosts.get()
    response = staff_client.delete(f"/api/hosts/{listed.pk}/")
    assert response.status_code == 409 and "listed by rule(s) r" in response.json()["detail"]
