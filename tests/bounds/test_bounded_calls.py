"""Every driver and metric-source call is bounded by the framework, not by the driver's goodwill."""

import threading
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automigrate import drivers, sources
from automigrate.drivers.base import MigrationDriver, PollResult
from automigrate.engine.model import CPU
from automigrate.models import Event, Guest, Host, Migration, OutsideTimeout
from automigrate.services import evaluate, outside
from automigrate.services.rules import create_rule
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples


def _migration_stub(pk=1):
    return Migration(pk=pk)


def test_get_driver_bounds_every_call_and_names_the_one_that_did_not_answer(settings, db):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "DRIVER": "tests.bounds.outside.BlockingDriver"}
    driver = drivers.get_driver()
    started = time.monotonic()
    with pytest.raises(drivers.DriverError, match="driver poll did not answer in 1 s"):
        driver.poll(_migration_stub(), timezone.now())
    assert time.monotonic() - started < 3
    with pytest.raises(drivers.DriverTimedOut, match="driver start did not answer in 1 s"):
        driver.start(_migration_stub(2), timezone.now())
    with pytest.raises(drivers.DriverTimedOut, match="driver cancel did not answer in 1 s"):
        driver.cancel(_migration_stub(3))
    # The banner's record: one row per call that timed out.
    assert set(OutsideTimeout.objects.values_list("call", flat=True)) == {
        "blocking poll", "blocking start", "blocking cancel"
    }


def test_a_poll_still_stuck_fails_at_once_instead_of_leaving_another_thread(settings, db):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "DRIVER": "tests.bounds.outside.BlockingDriver"}
    from tests.bounds.outside import BlockingDriver

    with pytest.raises(drivers.DriverTimedOut):
        drivers.get_driver().poll(_migration_stub(7), timezone.now())
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(drivers.DriverTimedOut) as again:
        drivers.get_driver().poll(_migration_stub(7), timezone.now())
    assert again.value.still_busy
    assert time.monotonic() - started < 0.5
    assert threading.active_count() == threads
    assert BlockingDriver.calls.count("poll") == 1
    assert OutsideTimeout.objects.get(call="blocking poll").count == 2


class _InThread(MigrationDriver):
    name = "in-thread"
    bounded_by_database = True
    threads: list[str] = []

    def start(self, migration, now):
        _InThread.threads.append(threading.current_thread().name)
        return "x"

    def poll(self, migration, now):
        return PollResult("running")


def test_drivers_whose_outside_is_our_database_run_in_the_callers_thread():
    driver = drivers.bounded(_InThread())
    assert drivers.bounded(driver) is driver  # wrapping twice is wrapping once
    driver.start(_migration_stub(), timezone.now())
    assert _InThread.threads == [threading.current_thread().name]
    assert drivers.get_driver("simulator").bounded_by_database
    assert sources.get_source("database").bounded_by_database


def test_get_source_bounds_every_call_series_included(settings, db):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "tests.bounds.outside.BlockingSource"}
    source = sources.get_source()
    now = timezone.now()
    with pytest.raises(sources.SourceError, match="metric source blocking host_means did not answer in 1 s"):
        source.host_means(now - timedelta(minutes=2), now)
    with pytest.raises(sources.SourceTimedOut, match="host_series did not answer"):
        source.host_series(1, CPU, now - timedelta(hours=1), now, 60)
    assert OutsideTimeout.objects.filter(kind="source").count() == 2


@pytest.mark.django_db
def test_a_hanging_metric_source_ends_the_evaluation_within_its_bound_with_hosts_stale(settings):
    now = timezone.now()
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * GIB)
    spare = Host.objects.create(name="spare", cpu_count=64, mem_total=512 * GIB)
    vm = Guest.objects.create(name="vm", host=hot, vcpu_count=24, vmem_size=1024)
    write_samples(hot, now, cpu=90.0, mem=100 * GIB)
    write_samples(spare, now, cpu=5.0, mem=400 * GIB)
    write_guest_samples(vm, now, 100.0)
    cpu_rule = create_rule({"name": "cpu", "metric": CPU, "threshold": 60, "period": "2m"})
    other = create_rule({"name": "cpu-other", "metric": CPU, "threshold": 80, "period": "2m"})
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "tests.bounds.outside.BlockingSource"}

    started = time.monotonic()
    result = evaluate.evaluate_rule(cpu_rule, now=now)
    first = time.monotonic() - started
    # The bound is 1 s per call; a hanging source would hold it for GIVE_UP_SECONDS (60 s).
    assert first < 10, f"the evaluation took {first:.1f} s"
    assert result.result == evaluate.NOT_TRIGGERED
    event = Event.objects.filter(rule_ref=cpu_rule.pk).latest("id")
    assert "metric source blocking host_means did not answer in 1 s" in event.summary
    assert "hosts hot, spare" in event.summary
    assert event.notes["stale"]["hosts"] == ["hot", "spare"]
    assert not Migration.objects.exists()

    # The next evaluation (another rule) is not held either: the stuck call fails at once.
    started = time.monotonic()
    assert evaluate.evaluate_rule(other, now=now).result == evaluate.NOT_TRIGGERED
    assert time.monotonic() - started < first + 1

    # Once the source answers again, the rule sees the hot host and acts.
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "simulator"}
    assert evaluate.evaluate_rule(cpu_rule, now=now).result == evaluate.MIGRATING


@pytest.mark.django_db
def test_the_overview_shows_a_banner_naming_what_timed_out_recently(viewer_client, settings):
    now = timezone.now()
    outside.note_timeout("driver", "libvirt poll", "driver poll did not answer in 5 s", now=now)
    outside.note_timeout("source", "influxdb host_means", "metric source influxdb host_means did not answer in 10 s",
                         now=now - timedelta(minutes=11))
    page = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="outside-banner"' in page
    assert "libvirt poll" in page and "driver poll did not answer in 5 s" in page
    assert "influxdb" not in page  # older than the banner's 10 minutes
    live = viewer_client.get(reverse("dashboard:overview-live")).json()
    assert "libvirt poll" in live["fragments"]["overview-outside"]


@pytest.mark.django_db
def test_no_banner_when_nothing_timed_out(viewer_client):
    page = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="outside-banner"' not in page
