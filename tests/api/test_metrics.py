"""/api/metrics/: each host's recent window means, and a downsampled series for charts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.models import HostSample

pytestmark = pytest.mark.django_db


def test_window_means_per_host_with_null_for_silent_hosts(viewer_api, hot_cluster, make_host):
    make_host("quiet")
    response = viewer_api.get("/api/metrics/?window=2m")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    assert list(rows) == ["a15", "b20", "quiet"]
    assert rows["a15"]["cpu_usage_active"] == pytest.approx(90.0)
    assert rows["a15"]["mem_available"] == pytest.approx(200 * 1024**3)
    assert rows["a15"]["window_seconds"] == 120
    assert rows["quiet"]["cpu_usage_active"] is None and rows["quiet"]["mem_available"] is None


def test_the_window_decides_which_samples_count(viewer_api, make_host):
    host = make_host("a15")
    now = timezone.now()
    HostSample.objects.create(host=host, metric="cpu.usage_active", time=now - timedelta(seconds=20), value=80)
    HostSample.objects.create(host=host, metric="cpu.usage_active", time=now - timedelta(minutes=9), value=20)
    assert viewer_api.get(f"/api/metrics/{host.pk}/?window=1m").json()["cpu_usage_active"] == pytest.approx(80)
    assert viewer_api.get(f"/api/metrics/{host.pk}/?window=10m").json()["cpu_usage_active"] == pytest.approx(50)


def test_a_bad_window_is_a_400_saying_what_is_allowed(viewer_api, make_host):
    response = viewer_api.get("/api/metrics/?window=soon")
    assert response.status_code == 400
    assert "30s, 2m, 1h" in response.json()["window"]


def test_metrics_filter_by_host_status(viewer_api, hot_cluster, make_host):
    make_host("down", status="offline")
    assert [r["name"] for r in viewer_api.get("/api/metrics/?status=offline").json()["results"]] == ["down"]


def test_series_buckets_a_hosts_samples(viewer_api, hot_cluster):
    host = hot_cluster["hot"]
    response = viewer_api.get(f"/api/metrics/{host.pk}/series/?metric=cpu.usage_active&range=10m&points=10")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "a15" and body["metric"] == "cpu.usage_active"
    assert 1 <= len(body["times"]) == len(body["values"]) <= 10
    assert body["bucket_seconds"] >= 60
    assert all(v == pytest.approx(90.0) for v in body["values"])


def test_series_rejects_bad_parameters(viewer_api, hot_cluster):
    host = hot_cluster["hot"]
    assert viewer_api.get(f"/api/metrics/{host.pk}/series/?metric=disk").status_code == 400
    assert viewer_api.get(f"/api/metrics/{host.pk}/series/?points=1").status_code == 400
    assert "range" in viewer_api.get(f"/api/metrics/{host.pk}/series/?range=400d").json()
    assert viewer_api.get("/api/metrics/999999/series/").status_code == 404


def test_the_series_query_is_validated_once_into_seconds():
    from automigrate.api.views import SeriesQuerySerializer

    query = SeriesQuerySerializer(data={"range": "2h"})
    assert query.is_valid(), query.errors
    assert query.validated_data["range"] == 7200
    default = SeriesQuerySerializer(data={})
    assert default.is_valid() and default.validated_data["range"] == 6 * 3600
    too_long = SeriesQuerySerializer(data={"range": "32d"})
    assert not too_long.is_valid()
    assert too_long.errors["range"] == ["'32d' is too long: at most 31d"]


def test_the_series_spans_the_range_asked_for(viewer_api, hot_cluster):
    from datetime import datetime, timedelta

    body = viewer_api.get(f"/api/metrics/{hot_cluster['hot'].pk}/series/?range=31d").json()
    span = datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"])
    assert span == timedelta(days=31)
