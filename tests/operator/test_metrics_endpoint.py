"""/metrics: Prometheus' own text parser reads it, it is closed to strangers, and its counters move."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from automigrate.models import Migration
from automigrate.services import evaluate, execution

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_counters_move_after_a_migration(client, two_hot_hosts):
    before = scrape(client)  # the test client comes from 127.0.0.1: allowed by default
    rule = two_hot_hosts.cpu_rule()
    now = two_hot_hosts.now
    started = evaluate.evaluate_rule(rule, now=now)
    assert started.result == evaluate.MIGRATING
    during = scrape(client)
    assert during[("automigrate_lock_held", ())] == 1
    assert during[("automigrate_migrations_in_flight", ())] >= 1
    # After the simulated copy, before the deadline (the watcher judges the deadline first).
    execution.watch_migrations(now + timedelta(seconds=60))
    assert Migration.objects.filter(state=Migration.State.SUCCEEDED).exists()
    after = scrape(client)

    succeeded = ("automigrate_migrations_total", (("outcome", "succeeded"),))
    assert after[succeeded] == before.get(succeeded, 0) + Migration.objects.filter(state="succeeded").count()
    count = ("automigrate_migration_duration_seconds_count", ())
    assert after[count] > before[count]
    assert after[("automigrate_migration_duration_seconds_sum", ())] > 0
    evaluations = ("automigrate_evaluations_total", (("result", "migrating"),))
    assert after[evaluations] == before.get(evaluations, 0) + 1
    assert after[("automigrate_evaluation_duration_seconds_count", ())] == \
        before[("automigrate_evaluation_duration_seconds_count", ())] + 1
    assert after[("automigrate_lock_held", ())] == 0


def test_ingest_counts_stored_and_refused_samples(client, operator, make_host):
    make_host("h1")
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=operator).key}"}
    assert client.generic("POST", "/write", "cpu,host=h1,cpu=cpu-total usage_active=50\n"
                          "mem,host=h1 available=1000000000", **auth).status_code == 204
    assert client.generic("POST", "/write", "cpu,host=nobody,cpu=cpu-total usage_active=50", **auth).status_code == 400
    assert client.generic("POST", "/write?precision=weeks", "cpu usage_active=1", **auth).status_code == 400
    samples = scrape(client)
    assert samples[("automigrate_samples_ingested_total", (("kind", "host"),))] == 2
    assert samples[("automigrate_samples_refused_total", (("reason", "unknown_name"),))] == 1
    assert samples[("automigrate_samples_refused_total", (("reason", "request_refused"),))] == 1


def test_strangers_need_the_token(client, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRICS_ALLOW": [], "METRICS_TOKEN": "tok-123"}
    refused = client.get("/metrics")
    assert refused.status_code == 403 and b"AUTOMIGRATE_METRICS_TOKEN" in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert scrape(client, HTTP_AUTHORIZATION="Bearer tok-123")


def test_no_token_configured_means_no_token_accepted(client, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRICS_ALLOW": [], "METRICS_TOKEN": ""}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
