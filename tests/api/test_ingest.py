"""POST /write: InfluxDB line protocol in, samples stored, InfluxDB-style answers out."""

import base64
import gzip
import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from automigrate.models import GuestSample, Host, HostSample
from automigrate.models.bounds import UNKNOWN_MEM_TOTAL_BYTES

pytestmark = pytest.mark.django_db

# Whole hours, an hour or two ago: inside the sample retention that ingest accepts.
T0 = (int(time.time()) // 3600 - 2) * 3600


def at(microsecond: int) -> datetime:
    return datetime.fromtimestamp(T0, tz=UTC).replace(microsecond=microsecond)


@pytest.fixture
def token(operator) -> str:
    return Token.objects.create(user=operator).key


@pytest.fixture
def write(client, token):
    def send(body: str | bytes, query: str = "db=telegraf", **headers):
        headers.setdefault("HTTP_AUTHORIZATION", f"Token {token}")
        return client.generic("POST", f"/write?{query}", body, content_type="text/plain; charset=utf-8", **headers)

    return send


@pytest.fixture
def cluster(make_host, make_guest):
    host = make_host("a15", external_id="6fc10297-eb20")
    make_guest("vm1", host, external_id="a3107d1f")
    return host


def test_telegraf_lines_become_samples_and_other_fields_are_counted(write, cluster):
    body = "\n".join([
        f"cpu,cpu=cpu-total,host=a15 usage_active=62.9,usage_idle=37.1 {T0}000000000",
        f"cpu,cpu=cpu0,host=a15 usage_active=99.0 {T0}000000000",
        f"mem,host=a15 available=8589934592i,total=17179869184i,used_percent=50 {T0}000000000",
        f"vm_cpu,vm_id=a3107d1f usage_active=10.5 {T0}000000000",
        f"disk,host=a15,path=/ used=1i {T0}000000000",
        "# a comment, and an empty line follow",
        "",
    ])
    response = write(body)
    assert response.status_code == 204, response.content
    assert response["X-Automigrate-Stored"] == "3"
    # usage_idle, the cpu0 series, mem total and used_percent, disk used
    assert response["X-Automigrate-Ignored-Fields"] == "5"
    stamp = datetime.fromtimestamp(T0, tz=UTC)
    assert sorted(HostSample.objects.values_list("metric", "value", "time")) == [
        ("cpu.usage_active", 62.9, stamp), ("mem.available", 8589934592.0, stamp),
    ]
    assert GuestSample.objects.get().cpu == 10.5


def test_hosts_are_matched_by_external_id_through_the_host_id_tag(write, cluster):
    assert write(f"cpu,cpu=cpu-total,host_id=6fc10297-eb20 usage_active=70 {T0}000000000").status_code == 204
    # The timestamp was taken as nanoseconds: the default precision.
    assert HostSample.objects.get().host == cluster
    assert HostSample.objects.get().time == datetime.fromtimestamp(T0, tz=UTC)


@pytest.mark.parametrize(
    ("precision", "stamp"),
    [("n", T0 * 10**9), ("u", T0 * 10**6), ("ms", T0 * 1000), ("s", T0), ("m", T0 // 60), ("h", T0 // 3600)],
)
def test_every_influxdb_precision_is_understood(write, cluster, precision, stamp):
    assert write(f"mem,host=a15 available=1i {stamp}", query=f"db=telegraf&precision={precision}").status_code == 204
    expected = datetime.fromtimestamp(stamp * {"n": 1e-9, "u": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[precision],
                                      tz=UTC)
    assert HostSample.objects.get().time == expected


@pytest.mark.parametrize(
    ("precision", "stamp", "expected"),
    [
        # Nanoseconds are cut to the microseconds a datetime (and PostgreSQL) keeps, never rounded up.
        ("n", T0 * 10**9 + 123_456_789, at(123_456)),
        ("n", T0 * 10**9 + 999_999_999, at(999_999)),
        ("n", T0 * 10**9 + 1_000, at(1)),
        ("u", T0 * 10**6 + 123_456, at(123_456)),
        ("u", T0 * 10**6 + 1, at(1)),
        ("ms", T0 * 1000 + 123, at(123_000)),
        ("ms", T0 * 1000 + 999, at(999_000)),
    ],
)
def test_sub_second_stamps_keep_their_exact_microseconds(write, cluster, precision, stamp, expected):
    assert write(f"mem,host=a15 available=1i {stamp}", query=f"db=telegraf&precision={precision}").status_code == 204
    assert HostSample.objects.get().time == expected


def test_a_line_without_timestamp_gets_the_servers_time(write, cluster):
    before = datetime.now(UTC)
    assert write("mem,host=a15 available=1i").status_code == 204
    assert HostSample.objects.get().time >= before.replace(microsecond=0)


def test_an_unknown_precision_is_refused(write, cluster):
    response = write(f"mem,host=a15 available=1i {T0}", query="db=telegraf&precision=fortnight")
    assert response.status_code == 400
    assert "invalid precision" in response.json()["error"]


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("cpu,cpu=cpu-total,host=a15 usage_active=", "Failed to parse value of field"),
        ("cpu,cpu=cpu-total,host=a15 usage_active=50 yesterday", "timestamp"),
        ('cpu,cpu=cpu-total,host=a15 usage_active="busy"', "must be a finite number"),
        ("cpu,cpu=cpu-total usage_active=50", "none of the host tags"),
        ("vm_cpu,host=a15 usage_active=50", "none of the guest tags"),
        ("mem,host=a15 available=1i 99999999999999999", "out of range"),
    ],
)
def test_a_malformed_line_refuses_the_whole_request_naming_it(write, cluster, bad_line, reason):
    body = f"mem,host=a15 available=1i\n\n{bad_line}\nmem,host=a15 available=2i\n"
    response = write(body, query="db=telegraf&precision=s" if "out of range" in reason else "db=telegraf")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("line 3: ")
    assert reason in error
    assert not HostSample.objects.exists()


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        ("cpu,cpu=cpu-total,host=a15 usage_active=1e9",
         "cpu field usage_active is a percent, 0 to 100, got 1000000000.0"),
        ("cpu,cpu=cpu-total,host=a15 usage_active=100.6", "is a percent, 0 to 100"),
        ("cpu,cpu=cpu-total,host=a15 usage_active=-1", "is a percent, 0 to 100"),
        ("vm_cpu,vm_id=a3107d1f usage_active=250", "vm_cpu field usage_active is a percent, 0 to 100"),
        ("mem,host=a15 available=-5i", "mem field available is bytes, 0 or more, got -5"),
        ("mem,host=a15 available=-0.5", "is bytes, 0 or more"),
        ("cpu,cpu=cpu-total,host=a15 usage_active=NaN", "line 2: "),
        ("cpu,cpu=cpu-total,host=a15 usage_active=inf", "line 2: "),
    ],
)
def test_a_value_no_metric_can_have_refuses_the_whole_request_naming_the_line(write, cluster, bad_line, says):
    response = write(f"mem,host=a15 available=1i {T0}000000000\n{bad_line} {T0}000000000\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("line 2: ") and says in error
    assert not HostSample.objects.exists() and not GuestSample.objects.exists()


def test_cpu_float_noise_just_past_the_ends_is_clipped(write, cluster):
    body = "\n".join([
        f"cpu,cpu=cpu-total,host=a15 usage_active=100.0000001 {T0}000000000",
        f"cpu,cpu=cpu-total,host=a15 usage_active=-0.0000001 {T0 + 1}000000000",
        f"vm_cpu,vm_id=a3107d1f usage_active=100.4 {T0}000000000",
        f"mem,host=a15 available=0i {T0}000000000",
    ])
    assert write(body).status_code == 204
    assert sorted(HostSample.objects.filter(metric="cpu.usage_active").values_list("value", flat=True)) == [0, 100]
    assert GuestSample.objects.get().cpu == 100
    assert HostSample.objects.get(metric="mem.available").value == 0


def test_auto_registration_ignores_impossible_capacities(write, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "INGEST_AUTO_REGISTER_HOSTS": True}
    body = "\n".join([
        f"system,host=new-1 n_cpus=-4i {T0}000000000",
        f"mem,host=new-1 available=1i,total=-1i {T0}000000000",
    ])
    assert write(body).status_code == 204
    host = Host.objects.get(name="new-1")
    # Unknown capacity: registered disabled with placeholders, as when telegraf sent none.
    assert (host.cpu_count, host.mem_total, host.enabled) == (1, UNKNOWN_MEM_TOTAL_BYTES, False)


def test_samples_of_unknown_hosts_and_guests_are_dropped_and_named(write, cluster):
    body = "\n".join([
        f"cpu,cpu=cpu-total,host=a15 usage_active=50 {T0}000000000",
        f"cpu,cpu=cpu-total,host=ghost-1 usage_active=50 {T0}000000000",
        f"mem,host=ghost-2 available=1i {T0}000000000",
        f"vm_cpu,vm_id=phantom usage_active=1 {T0}000000000",
    ])
    response = write(body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("partial write: unknown hosts ghost-1, ghost-2")
    assert "unknown guests phantom" in error and error.endswith("dropped=3")
    # Like InfluxDB's partial write: what could be stored was.
    assert HostSample.objects.get().host == cluster
    assert not Host.objects.filter(name__startswith="ghost").exists()


def test_with_auto_registration_new_hosts_are_created(write, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "INGEST_AUTO_REGISTER_HOSTS": True}
    body = "\n".join([
        f"system,host=new-1 n_cpus=32i,load1=0.5 {T0}000000000",
        f"mem,host=new-1 available=1i,total=68719476736i {T0}000000000",
        f"cpu,cpu=cpu-total,host=new-2 usage_active=5 {T0}000000000",
    ])
    assert write(body).status_code == 204
    complete, partial = Host.objects.get(name="new-1"), Host.objects.get(name="new-2")
    assert (complete.cpu_count, complete.mem_total, complete.enabled) == (32, 68719476736, True)
    # Capacity unknown: registered, but kept out of placement until someone fills it in.
    assert partial.enabled is False and "auto-registered" in partial.labels
    assert HostSample.objects.count() == 2


def test_gzip_bodies_are_accepted(write, cluster):
    body = gzip.compress(f"mem,host=a15 available=3i {T0}000000000\n".encode())
    assert write(body, HTTP_CONTENT_ENCODING="gzip").status_code == 204
    assert HostSample.objects.get().value == 3


def test_a_truncated_gzip_body_is_refused_whole(write, cluster):
    lines = "".join(f"mem,host=a15 available={i}i {T0 + i}000000000\n" for i in range(2000))
    body = gzip.compress(lines.encode())
    response = write(body[: len(body) // 2], HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not complete gzip")
    assert not HostSample.objects.exists()


def test_a_gzip_body_missing_only_its_trailer_is_refused(write, cluster):
    # Every line inflates, but without the CRC and length nothing proves it is whole.
    body = gzip.compress(f"mem,host=a15 available=3i {T0}000000000\n".encode())
    response = write(body[:-8], HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and "not complete gzip" in response.json()["error"]
    assert not HostSample.objects.exists()


def test_data_after_the_gzip_stream_is_refused(write, cluster):
    body = gzip.compress(f"mem,host=a15 available=3i {T0}000000000\n".encode()) + b"trailing junk"
    response = write(body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and "not valid gzip" in response.json()["error"]
    assert not HostSample.objects.exists()


def test_several_gzip_members_are_one_body_as_in_influxdb(write, cluster):
    body = b"".join(gzip.compress(f"mem,host=a15 available={i}i {T0 + i}000000000\n".encode()) for i in (1, 2))
    assert write(body, HTTP_CONTENT_ENCODING="gzip").status_code == 204
    assert sorted(HostSample.objects.values_list("value", flat=True)) == [1, 2]


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br"])
def test_an_unsupported_content_encoding_is_a_415_in_one_line(write, cluster, encoding):
    response = write(f"mem,host=a15 available=3i {T0}000000000", HTTP_CONTENT_ENCODING=encoding)
    assert response.status_code == 415
    assert response.json() == {"error": f"unsupported Content-Encoding '{encoding}': send gzip or identity"}
    assert not HostSample.objects.exists()


def test_identity_encoding_is_plain_text(write, cluster):
    assert write(f"mem,host=a15 available=3i {T0}000000000", HTTP_CONTENT_ENCODING="identity").status_code == 204


def test_credentials_as_basic_auth_or_u_and_p(client, cluster, operator):
    line = f"mem,host=a15 available=1i {T0}000000000"
    basic = base64.b64encode(b"operator:operator-pass-123").decode()
    by_basic = client.generic("POST", "/write?db=telegraf", line, HTTP_AUTHORIZATION=f"Basic {basic}")
    by_params = client.generic("POST", "/write?db=telegraf&u=operator&p=operator-pass-123", line)
    by_influx_token = client.generic("POST", "/write?db=x", line, HTTP_AUTHORIZATION="Token operator:operator-pass-123")
    assert (by_basic.status_code, by_params.status_code, by_influx_token.status_code) == (204, 204, 204)
    # The same sample three times: one row (a key written again keeps the last value).
    assert HostSample.objects.count() == 1


def test_a_changed_password_is_not_remembered(client, cluster, operator):
    line = f"mem,host=a15 available=1i {T0}000000000"
    assert client.generic("POST", "/write?u=operator&p=operator-pass-123", line).status_code == 204
    operator.set_password("new-secret-456")
    operator.save()
    assert client.generic("POST", "/write?u=operator&p=operator-pass-123", line).status_code == 401


def test_no_or_wrong_credentials_get_401_in_influxdb_shape(client, cluster):
    line = f"mem,host=a15 available=1i {T0}000000000"
    for response in (
        client.generic("POST", "/write?db=telegraf", line),
        client.generic("POST", "/write?db=telegraf&u=operator&p=wrong", line),
        client.generic("POST", "/write?db=telegraf", line, HTTP_AUTHORIZATION="Token nope"),
    ):
        assert response.status_code == 401
        assert "authorization failed" in response.json()["error"]
    assert not HostSample.objects.exists()


def test_a_viewer_may_not_write_metrics_but_a_telegraf_account_with_the_permission_may(client, cluster, viewer):
    line = f"mem,host=a15 available=1i {T0}000000000"
    denied = client.generic("POST", "/write?u=viewer&p=viewer-pass-123", line)
    assert denied.status_code == 403 and "may not write metrics" in denied.json()["error"]
    viewer.user_permissions.add(Permission.objects.get(codename="add_hostsample"))
    assert client.generic("POST", "/write?u=viewer&p=viewer-pass-123", line).status_code == 204


def test_write_is_post_only_and_needs_no_csrf_token(client, cluster, token):
    csrf_client = type(client)(enforce_csrf_checks=True)
    response = csrf_client.generic("POST", "/write?db=t", f"mem,host=a15 available=1i {T0}000000000",
                                   HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 204
    assert client.get("/write?db=t").status_code == 405


def test_ping_answers_like_influxdb_but_only_with_credentials(client, viewer):
    from rest_framework.authtoken.models import Token

    assert client.get("/ping").status_code == 401
    response = client.get("/ping", HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")
    assert response.status_code == 204 and "X-Influxdb-Version" in response
