"""The real `influxdb` Python client writing to /write on a live server, as telegraf-like agents do."""

import time
from datetime import UTC, datetime

import pytest
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from automigrate.models import GuestSample, HostSample

# No serialized_rollback: the flush after a transactional test emits post_migrate, and
# automigrate.apps.ensure_fixed_rows re-creates the operators group and the lock row then.
# Serialized rollback would insert its own copy of them on top and fail (unique name).
pytestmark = pytest.mark.django_db(transaction=True)

# Whole hours, an hour or two ago: inside the sample retention that ingest accepts.
T0 = (int(time.time()) // 3600 - 2) * 3600


@pytest.fixture
def live_port(live_server) -> int:
    """The live server's port, its request threads closing their database session after each request.

    With persistent connections (CONN_MAX_AGE > 0), a server thread kept alive
    by an HTTP keep-alive socket holds its PostgreSQL session open, and the
    test database cannot be dropped at the end of the run.
    """
    from django.db import connections

    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield int(live_server.url.rsplit(":", 1)[1])
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def connect(live_port, operator):
    """Clients of the live server, closed afterwards."""
    port = live_port
    clients = []

    def make(password: str = "operator-pass-123", **options) -> InfluxDBClient:
        client = InfluxDBClient(host="127.0.0.1", port=port, username="operator", password=password,
                                database="telegraf", timeout=10, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def influx(connect) -> InfluxDBClient:
    return connect()


@pytest.fixture
def cluster(make_host, make_guest):
    host = make_host("a15")
    make_guest("vm1", host, external_id="a3107d1f")
    return host


def cpu(host: str, value: float, at: int) -> dict:
    return {"measurement": "cpu", "tags": {"host": host, "cpu": "cpu-total"}, "time": at,
            "fields": {"usage_active": value, "usage_idle": 100 - value}}


def test_points_written_by_the_client_are_stored(influx, cluster):
    points = [cpu("a15", 60.0 + i, T0 + 10 * i) for i in range(5)]
    points.append({"measurement": "mem", "tags": {"host": "a15"}, "time": T0,
                   "fields": {"available": 8 * 1024**3, "total": 16 * 1024**3}})
    points.append({"measurement": "vm_cpu", "tags": {"vm_id": "a3107d1f"}, "time": T0,
                   "fields": {"usage_active": 99.5}})
    assert influx.write_points(points, time_precision="s") is True
    cpu_values = list(
        HostSample.objects.filter(metric="cpu.usage_active").order_by("time").values_list("value", "time")
    )
    assert cpu_values[0] == (60.0, datetime.fromtimestamp(T0, tz=UTC))
    assert [v for v, _ in cpu_values] == [60.0, 61.0, 62.0, 63.0, 64.0]
    assert HostSample.objects.get(metric="mem.available").value == 8 * 1024**3
    assert GuestSample.objects.get().cpu == 99.5


def test_rfc3339_times_and_gzip_work_too(connect, cluster):
    client = connect(gzip=True)
    rfc3339 = datetime.fromtimestamp(T0, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.write_points([cpu("a15", 42.0, 0) | {"time": rfc3339}])
    assert HostSample.objects.get().time == datetime.fromtimestamp(T0, tz=UTC)


def test_a_malformed_batch_is_refused_whole_with_its_line_number(influx, cluster):
    lines = [f"cpu,cpu=cpu-total,host=a15 usage_active={v} {T0}" for v in (50, 51)]
    lines.insert(1, f"cpu,cpu=cpu-total,host=a15 usage_active=oops {T0}")
    with pytest.raises(InfluxDBClientError) as refused:
        influx.write_points(lines, protocol="line", time_precision="s")
    assert refused.value.code == 400
    assert "line 2:" in refused.value.content
    assert not HostSample.objects.exists()


def test_unknown_hosts_are_listed_in_the_error(influx, cluster):
    with pytest.raises(InfluxDBClientError) as refused:
        influx.write_points([cpu("a15", 50, T0), cpu("ghost-1", 50, T0), cpu("ghost-2", 50, T0)],
                            time_precision="s")
    assert refused.value.code == 400
    assert "unknown hosts ghost-1, ghost-2" in refused.value.content
    assert HostSample.objects.count() == 1


def test_wrong_credentials_are_refused(connect, cluster):
    client = connect(password="wrong")
    with pytest.raises(InfluxDBClientError) as refused:
        client.write_points([cpu("a15", 50, T0)], time_precision="s")
    assert refused.value.code == 401
    with pytest.raises(InfluxDBClientError) as refused:
        client.ping()  # unlike InfluxDB, /ping needs valid credentials too
    assert refused.value.code == 401
    assert connect().ping()
