"""Each real server: out-of-range samples, server-side downsampling, and a server that is down, slow or locked."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import Host
from automigrate.services import ingest
from automigrate.sources import SourceError, get_source
from automigrate.sources.database import DatabaseSource
from tests.sources import servers
from tests.sources.conftest import GIB, configure, cpu_line, every, mem_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(db):
    return Host.objects.create(name="node-1", external_id="uuid-1", cpu_count=32, mem_total=256 * GIB)


def test_out_of_range_samples_are_ignored_and_counted(use_server, node, now):
    use_server.write_lines([
        cpu_line("node-1", 10, now - timedelta(seconds=30), "uuid-1"),
        cpu_line("node-1", 150, now - timedelta(seconds=20), "uuid-1"),
        cpu_line("node-1", -5, now - timedelta(seconds=10), "uuid-1"),
        cpu_line("node-1", 30, now, "uuid-1"),
        mem_line("node-1", 10 * GIB, now - timedelta(seconds=10), "uuid-1"),
        mem_line("node-1", -1, now, "uuid-1"),
    ])
    source = get_source()
    means = source.host_means(now - timedelta(seconds=60), now)
    assert means[node.pk][CPU] == pytest.approx(20.0, rel=1e-9)
    assert means[node.pk][MEM] == pytest.approx(10 * GIB, rel=1e-9)
    assert source.ignored == {CPU: 2, MEM: 1}


def test_chart_series_is_downsampled_by_the_server_like_the_database(use_server, node, now):
    """An hour of 10-s samples in 60-s buckets: each bucket the mean of its samples, aligned on the epoch."""
    start, end = now - timedelta(hours=1), now
    samples = [(at, 50 + 40 * math.sin(index / 17)) for index, at in enumerate(every(end, 3600))]
    lines = [cpu_line("node-1", round(value, 6), at, "uuid-1") for at, value in samples]
    use_server.write_lines(lines)
    ingest.ingest("\n".join(lines), "s")  # the same samples in our tables, for the database source

    series = get_source().host_series(node.pk, CPU, start, end, 60)
    buckets = defaultdict(list)
    for at, value in samples:
        buckets[int(at.timestamp()) // 60 * 60].append(round(value, 6))
    expected = [(datetime.fromtimestamp(key, tz=UTC), sum(v) / len(v)) for key, v in sorted(buckets.items())]
    assert [at for at, _ in series] == [at for at, _ in expected]
    assert [value for _, value in series] == pytest.approx([value for _, value in expected], rel=1e-9)
    database = DatabaseSource().host_series(node.pk, CPU, start, end, 60)
    assert [at for at, _ in database] == [at for at, _ in series]
    assert [value for _, value in database] == pytest.approx([value for _, value in series], rel=1e-9)


def test_chart_series_of_a_host_without_data_is_empty(use_server, node, now):
    use_server.write_lines([cpu_line("other", 10, now)])
    assert get_source().host_series(node.pk, CPU, now - timedelta(hours=1), now, 60) == []


def test_a_stopped_server_is_one_readable_error(use_server, node, now):
    use_server.stop()
    with pytest.raises(SourceError) as error:
        get_source().host_means(now - timedelta(seconds=60), now)
    assert str(error.value) == f"metric source {use_server.url} did not answer: connection refused"


def test_a_wrong_password_is_refused_and_the_right_one_works(kind, settings, tmp_path, node, now):
    auth = (servers.PROMETHEUS_USER, servers.PROMETHEUS_PASSWORD)
    running = servers.start(kind, tmp_path / kind, auth=auth)
    try:
        running.write_lines([cpu_line("node-1", 42, now, "uuid-1")])
        configure(settings, kind, running.url, METRIC_USERNAME=auth[0], METRIC_PASSWORD="wrong-password")
        with pytest.raises(SourceError, match=r"^metric source http://127\.0\.0\.1:\d+ refused the credentials"
                                              r" \(HTTP 401\): check AUTOMIGRATE_METRIC_USERNAME"):
            get_source().host_means(now - timedelta(seconds=60), now)
        configure(settings, kind, running.url, METRIC_USERNAME=auth[0], METRIC_PASSWORD=auth[1])
        assert get_source().host_means(now - timedelta(seconds=60), now) == {node.pk: {CPU: 42.0}}
    finally:
        running.stop()


@pytest.mark.parametrize("kind", servers.KINDS)
def test_a_slow_server_ends_within_the_timeout(kind, settings, slow_server, node, now):
    configure(settings, kind, slow_server.url, METRIC_TIMEOUT_SECONDS=1)
    began = time.monotonic()
    with pytest.raises(SourceError) as error:
        get_source().host_means(now - timedelta(seconds=60), now)
    assert time.monotonic() - began < 3  # the slow server answers only after 4 s
    assert str(error.value) == f"metric source {slow_server.url} did not answer in 1 s"


def test_credentials_in_the_url_never_reach_messages(kind, settings, node):
    configure(settings, kind, "http://user:secret@127.0.0.1:9/", METRIC_TIMEOUT_SECONDS=1)
    with pytest.raises(SourceError) as error:
        get_source().host_means(datetime.now(UTC) - timedelta(seconds=60), datetime.now(UTC))
    assert "secret" not in str(error.value)
    assert str(error.value).startswith("metric source http://127.0.0.1:9 did not answer")


def test_names_are_matched_literally_not_as_patterns(use_server, db, now):
    """A host called web.1 must not get the samples of webx1 (regexes are escaped for the store)."""
    dotted = Host.objects.create(name="web.1", cpu_count=8, mem_total=64 * GIB)
    Host.objects.create(name="webx1", cpu_count=8, mem_total=64 * GIB)
    use_server.write_lines([cpu_line("web.1", 10, now), cpu_line("webx1", 90, now)])
    series = get_source().host_series(dotted.pk, CPU, now - timedelta(minutes=5), now, 60)
    assert [value for _, value in series] == [10.0]
