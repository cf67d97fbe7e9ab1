"""Sample storage (issue 17): partitions, pruning that keeps the longest window, roll-ups, duplicates, history."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from automigrate.engine.model import CPU, MEM
from automigrate.models import (
    Guest,
    GuestRollup1m,
    GuestRollup5m,
    GuestSample,
    HostRollup1m,
    HostRollup5m,
    HostSample,
    RollupProgress,
)
from automigrate.services import history, partitions, rollups, storage
from automigrate.services.ingest import ingest
from automigrate.services.rules import create_rule
from automigrate.sources.database import DatabaseSource
from tests.evaluator.helpers import GIB, tune

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions are PostgreSQL's")


def _minute(offset_minutes: int = 0) -> datetime:
    """A whole 5-minute boundary a while ago, plus an offset: roll-up steps start there."""
    base = rollups.floor(timezone.now() - timedelta(minutes=30), 300)
    return base + timedelta(minutes=offset_minutes)


def _mark_rolled_up(until: datetime) -> None:
    for model in storage.ROLLUPS_1M + storage.ROLLUPS_5M:
        RollupProgress.objects.update_or_create(table=model._meta.db_table, defaults={"done_until": until})


@postgres_only
def test_samples_land_in_daily_partitions_made_ahead(make_host):
    host = make_host("h")
    now = timezone.now() + timedelta(days=30)  # past every partition the migration made
    storage.write_samples(HostSample, ("host", "metric", "time", "value"), [(host.pk, CPU, now, 5.0)])
    storage.prune_samples(now)

    parts = partitions.partitions(HostSample._meta.db_table)
    holding = [p for p in parts if p.start <= now < p.end]
    assert len(holding) == 1 and holding[0].end - holding[0].start == timedelta(days=1)
    assert holding[0].start == rollups.floor(now, 86400)
    # Made ahead for every table: the next DAYS_AHEAD days have their partitions already.
    for model in storage.ALL_TABLES:
        ahead = partitions.partitions(model._meta.db_table)
        assert any(p.start <= now + timedelta(days=partitions.DAYS_AHEAD) < p.end for p in ahead), model
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM automigrate_hostsample")
        assert cursor.fetchall() == [(holding[0].name,)]


def test_pruning_keeps_what_the_longest_window_needs_and_drops_the_rest(settings, make_host):
    tune(settings, SAMPLE_PARTITION_HOURS=1, RAW_SAMPLE_MARGIN_MINUTES=30, SAMPLE_RETENTION_DAYS=8,
         FORECAST=True, FORECAST_HISTORY_WINDOWS=3)
    create_rule({"name": "hourly", "metric": CPU, "threshold": 80, "period": "1h"})
    # Forecasts read the last 3 windows of raw samples: 3 h, plus the margin.
    assert storage.raw_retention() == timedelta(minutes=3 * 60 + 30)
    tune(settings, FORECAST=False)
    assert storage.raw_retention() == timedelta(minutes=90)
    host = make_host("h")
    guest = Guest.objects.create(name="g", host=host, vcpu_count=1, vmem_size=512)
    now = timezone.now() + timedelta(days=30)
    ages = (0, 10, 80, 200, 24 * 60)  # minutes: the first three inside 90 minutes
    storage.write_samples(HostSample, ("host", "metric", "time", "value"),
                          [(host.pk, CPU, now - timedelta(minutes=a), 1.0) for a in ages])
    storage.write_samples(GuestSample, ("guest", "time", "cpu"), [(guest.pk, now - timedelta(minutes=a), 1.0)
                                                                  for a in ages])
    _mark_rolled_up(now)

    pruned = storage.prune_samples(now)

    cutoff = now - timedelta(minutes=90)
    kept = sorted(HostSample.objects.values_list("time", flat=True))
    assert kept == sorted(now - timedelta(minutes=a) for a in (0, 10, 80))
    assert sorted(GuestSample.objects.values_list("time", flat=True)) == kept
    if connection.vendor == "postgresql":
        # Whole partitions went (no DELETE): every one left ends after the cutoff.
        assert pruned.rows == 0 and pruned.partitions
        for model in storage.RAW:
            assert all(p.end > cutoff for p in partitions.partitions(model._meta.db_table))
    else:
        assert pruned.rows == 4


def test_raw_samples_wait_for_the_roll_up_before_they_go(settings, make_host):
    tune(settings, SAMPLE_PARTITION_HOURS=1, RAW_SAMPLE_MARGIN_MINUTES=0, SAMPLE_RETENTION_DAYS=8)
    host = make_host("h")
    now = timezone.now() + timedelta(days=30)
    old = now - timedelta(hours=5)
    storage.write_samples(HostSample, ("host", "metric", "time", "value"), [(host.pk, CPU, old, 1.0)])
    _mark_rolled_up(old - timedelta(hours=1))  # the roll-up is behind: it has not read `old` yet
    storage.prune_samples(now)
    assert HostSample.objects.filter(time=old).exists()
    _mark_rolled_up(now)
    storage.prune_samples(now)
    assert not HostSample.objects.exists()


def _hand_computed_cluster(make_host):
    host = make_host("h", mem_total=64 * GIB)
    guest = Guest.objects.create(name="g", host=host, vcpu_count=1, vmem_size=512)
    t = _minute()
    cpu = [(0, 10.0), (20, 20.0), (40, 60.0), (60, 40.0)]  # seconds after t: minute 1 = 10, 20, 60; minute 2 = 40
    rows = [(host.pk, CPU, t + timedelta(seconds=s), v) for s, v in cpu]
    rows += [(host.pk, MEM, t + timedelta(seconds=s), GIB * (s + 1)) for s, _ in cpu]
    storage.write_samples(HostSample, ("host", "metric", "time", "value"), rows)
    # Values no metric can have (written around ingest): never in a roll-up.
    HostSample.objects.bulk_create([HostSample(host=host, metric=CPU, time=t + timedelta(seconds=30), value=150.0),
                                    HostSample(host=host, metric=MEM, time=t + timedelta(seconds=30), value=65 * GIB)])
    storage.write_samples(GuestSample, ("guest", "time", "cpu"),
                          [(guest.pk, t + timedelta(seconds=s), v / 2) for s, v in cpu])
    return host, guest, t


def test_roll_ups_hold_hand_computed_means_maxima_and_counts(make_host):
    host, guest, t = _hand_computed_cluster(make_host)

    rollups.roll_up(t + timedelta(minutes=10))

    minute = {(r.metric, r.time): (r.mean, r.max, r.samples) for r in HostRollup1m.objects.filter(host=host)}
    assert minute[(CPU, t)] == (pytest.approx(30.0), 60.0, 3)
    assert minute[(CPU, t + timedelta(minutes=1))] == (pytest.approx(40.0), 40.0, 1)
    assert minute[(MEM, t)] == (pytest.approx(GIB * (1 + 21 + 41) / 3), GIB * 41, 3)
    five = HostRollup5m.objects.get(host=host, metric=CPU)
    # The mean of the four samples, not the mean of the two minutes' means (35).
    assert (five.time, five.mean, five.max, five.samples) == (t, pytest.approx(32.5), 60.0, 4)
    assert [(r.mean, r.samples) for r in GuestRollup1m.objects.filter(guest=guest).order_by("time")] == [
        (pytest.approx(15.0), 3), (pytest.approx(20.0), 1)]
    assert GuestRollup5m.objects.get(guest=guest).mean == pytest.approx(16.25)


def test_roll_up_is_idempotent_and_waits_for_late_samples(settings, make_host):
    tune(settings, ROLLUP_DELAY_SECONDS=60)
    _, _, t = _hand_computed_cluster(make_host)
    # At t + 130 s the second minute ended 10 s ago, less than the delay: not rolled up yet, the first is.
    rollups.roll_up(t + timedelta(seconds=130))
    assert list(HostRollup1m.objects.filter(metric=CPU).values_list("time", flat=True)) == [t]
    assert not HostRollup5m.objects.exists()  # its 5 minutes are not complete
    rollups.roll_up(t + timedelta(minutes=10))
    first = sorted(HostRollup1m.objects.values_list("host_id", "metric", "time", "mean", "max", "samples"))
    RollupProgress.objects.all().delete()  # forget the progress: the same steps again
    rollups.roll_up(t + timedelta(minutes=10))
    assert sorted(HostRollup1m.objects.values_list("host_id", "metric", "time", "mean", "max", "samples")) == first


def test_history_reads_per_step_means_from_roll_ups_or_raw(make_host):
    host, guest, t = _hand_computed_cluster(make_host)
    end = t + timedelta(minutes=5)
    raw = history.host_means(t, end, 60, host_ids=[host.pk], metrics=[CPU])
    assert raw.resolution == "raw"
    assert raw.series[(host.pk, CPU)] == [(t, pytest.approx(30.0)), (t + timedelta(minutes=1), pytest.approx(40.0))]

    rollups.roll_up(t + timedelta(minutes=10))
    HostSample.objects.all().delete()  # as if pruned: only the roll-ups know
    five = history.host_means(t, end, 300, host_ids=[host.pk], metrics=[CPU])
    assert five.resolution == "5m" and five.series == {(host.pk, CPU): [(t, pytest.approx(32.5))]}
    minute = history.host_means(t, end, 60, host_ids=[host.pk], metrics=[CPU])
    assert minute.resolution == "1m" and [v for _, v in minute.series[(host.pk, CPU)]] == pytest.approx([30.0, 40.0])
    guests = history.guest_means(t, end, 300, guest_ids=[guest.pk])
    assert guests.series == {guest.pk: [(t, pytest.approx(16.25))]}


def test_the_chart_reads_roll_ups_past_the_raw_retention_and_raw_for_the_newest_minutes(make_host):
    host, _, t = _hand_computed_cluster(make_host)
    rollups.roll_up(t + timedelta(minutes=10))
    HostSample.objects.filter(time__lt=t + timedelta(minutes=1)).delete()  # the first minute pruned
    # A sample newer than the roll-up's progress comes from the raw table.
    newest = RollupProgress.objects.get(table=HostRollup1m._meta.db_table).done_until + timedelta(seconds=5)
    storage.write_samples(HostSample, ("host", "metric", "time", "value"), [(host.pk, CPU, newest, 90.0)])

    series = DatabaseSource().host_series(host.pk, CPU, t - timedelta(hours=1), newest, 60)

    assert series == [(t, pytest.approx(30.0)), (t + timedelta(minutes=1), pytest.approx(40.0)),
                      (rollups.floor(newest, 60), pytest.approx(90.0))]


@pytest.mark.parametrize("same_request", [True, False])
def test_a_sample_sent_twice_keeps_the_last_value(make_host, same_request):
    make_host("a15")
    stamp = int((timezone.now() - timedelta(minutes=1)).timestamp())
    first, second = (f"cpu,cpu=cpu-total,host=a15 usage_active={v} {stamp}" for v in (10, 20))
    if same_request:
        ingest(f"{first}\n{second}", "s")
    else:
        ingest(first, "s")
        ingest(second, "s")
    assert list(HostSample.objects.values_list("value", flat=True)) == [20.0]


def test_guest_samples_sent_twice_keep_the_last_value_on_every_write_path(make_host):
    host = make_host("h")
    guest = Guest.objects.create(name="g", host=host, vcpu_count=1, vmem_size=512)
    at = timezone.now()
    storage.write_samples(GuestSample, ("guest", "time", "cpu"), [(guest.pk, at, 1.0)])
    storage.write_samples(GuestSample, ("guest", "time", "cpu"), [(guest.pk, at, 2.0), (guest.pk, at, 3.0)])
    assert list(GuestSample.objects.values_list("cpu", flat=True)) == [3.0]


def test_an_external_source_stores_and_rolls_up_nothing(settings, make_host, client, operator):
    from django_celery_beat.models import PeriodicTask

    from automigrate.services import schedule
    from tests.sources.conftest import configure

    make_host("a15")
    configure(settings, "influxdb", "http://127.0.0.1:9")
    stamp = int(timezone.now().timestamp())
    token = Token.objects.create(user=operator).key
    response = client.generic("POST", "/write?db=telegraf", f"mem,host=a15 available=1i {stamp}",
                              HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 400
    assert "reads its metrics from influxdb (AUTOMIGRATE_METRIC_SOURCE) and stores none" in response.json()["error"]
    assert str(rollups.roll_up()).startswith("metric source is an external store")
    schedule.ensure_system_schedules()
    assert not PeriodicTask.objects.get(task="automigrate.tasks.roll_up_samples").enabled
    assert not HostSample.objects.exists() and not HostRollup1m.objects.exists()
    assert not RollupProgress.objects.exists()


def test_partition_slots_fill_gaps_without_overlapping_existing_ones():
    day = timedelta(days=1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    existing = [partitions.Partition("a", t0, t0 + day), partitions.Partition("b", t0 + 2 * day, t0 + 3 * day)]
    # Hourly slots now, between daily partitions made before: only the gap gets partitions.
    slots = partitions._missing(existing, t0 + timedelta(hours=23), t0 + 2 * day + timedelta(hours=1),
                                timedelta(hours=12))
    assert slots == [(t0 + day, t0 + day + timedelta(hours=12)), (t0 + day + timedelta(hours=12), t0 + 2 * day)]
