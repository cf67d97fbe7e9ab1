"""Issue 10: bad samples never reach a mean.

/write refuses values a metric cannot have (and far-future or too-old
timestamps) whole, naming the line and the field; values stored before that
check, or by other means, are ignored by every window mean instead of
overflowing PostgreSQL's AVG; auto-registration has caps.
"""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, GuestSample, Host, HostSample
from automigrate.services.metrics import prune_samples
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db

# At collection time; only used where minutes of drift do not matter (days of margin).
NOW_S = int(time.time())
GIB = 1024**3


@pytest.fixture
def write(client, operator):
    token = Token.objects.get_or_create(user=operator)[0].key

    def send(body: str, query: str = "db=telegraf&precision=s"):
        return client.generic("POST", f"/write?{query}", body, content_type="text/plain",
                              HTTP_AUTHORIZATION=f"Token {token}")

    return send


@pytest.fixture
def cpu_rule(hot_cluster):
    return create_rule({"name": "test-cpu", "threshold": 60, "period": "2m", "mode": "recommend"})


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        # The line of the report: 1e160 bytes, far beyond the host's 256 GiB.
        ("mem,host=a15 available=1e160", "line 2: mem field available is 1e+160 bytes, more than host a15's"
                                         f" mem_total of {256 * GIB} bytes"),
        (f"mem,host=a15 available={256 * GIB + 1}i", "line 2: mem field available"),
        ("cpu,cpu=cpu-total,host=a15 usage_active=101", "line 2: cpu field usage_active is a percent, 0 to 100"),
        (f"cpu,cpu=cpu-total,host=a15 usage_active=50 {NOW_S + 10 * 365 * 86400}",
         "line 2: timestamp"),
        (f"cpu,cpu=cpu-total,host=a15 usage_active=50 {NOW_S - 30 * 86400}", "line 2: timestamp"),
    ],
)
def test_a_sample_out_of_range_refuses_the_request_naming_line_and_field(
    write, hot_cluster, operator_api, cpu_rule, bad_line, says
):
    before = HostSample.objects.count(), GuestSample.objects.count()
    body = f"cpu,cpu=cpu-total,host=a15 usage_active=95 {NOW_S}\n{bad_line}\nmem,host=b20 available=1i {NOW_S}\n"
    response = write(body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(says)
    # All or nothing: the good lines around it were not stored either.
    assert (HostSample.objects.count(), GuestSample.objects.count()) == before

    # And everything reading means still works right after.
    evaluated = operator_api.post(f"/api/rules/{cpu_rule.pk}/evaluate/")
    assert evaluated.status_code == 200 and evaluated.json()["result"] == "recommend"


def test_a_future_timestamp_message_names_the_setting(write, hot_cluster, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "INGEST_MAX_FUTURE_SECONDS": 60}
    now = int(time.time())  # not NOW_S: collection may be minutes ago in a long run
    ahead = write(f"cpu,cpu=cpu-total,host=a15 usage_active=50 {now + 120}")
    assert ahead.status_code == 400
    assert "in the future" in ahead.json()["error"] and "AUTOMIGRATE_INGEST_MAX_FUTURE_SECONDS" in ahead.json()["error"]
    # Within the skew: accepted.
    assert write(f"cpu,cpu=cpu-total,host=a15 usage_active=50 {now + 30}").status_code == 204


def test_memory_up_to_the_hosts_size_is_accepted(write, make_host):
    make_host("small", mem_total=8 * GIB)
    assert write(f"mem,host=small available={8 * GIB}i {NOW_S}").status_code == 204
    assert write(f"mem,host=small available={8 * GIB + 1}i {NOW_S}").status_code == 400


def _store_nonsense(host: Host, guest=None) -> None:
    """Rows as they were stored before ingest checked them: enough to overflow AVG on PostgreSQL."""
    now = timezone.now()
    HostSample.objects.bulk_create([
        HostSample(host=host, metric=MEM, time=now - timedelta(seconds=s), value=1e160) for s in (3, 13, 23)
    ] + [
        HostSample(host=host, metric=CPU, time=now - timedelta(seconds=s), value=1e300) for s in (4, 14)
    ] + [
        HostSample(host=host, metric=CPU, time=now - timedelta(seconds=6), value=-1e300),
    ])
    if guest is not None:
        GuestSample.objects.bulk_create([GuestSample(guest=guest, time=now - timedelta(seconds=5), cpu=1e200)])


def test_stored_nonsense_never_reaches_a_mean(viewer_api, operator_api, staff_client, hot_cluster, cpu_rule):
    hot = hot_cluster["hot"]
    _store_nonsense(hot, hot_cluster["guests"][0])

    metrics = viewer_api.get("/api/metrics/?window=2m")
    assert metrics.status_code == 200
    rows = {row["name"]: row for row in metrics.json()["results"]}
    # The means are the believable samples' means.
    assert rows["a15"]["cpu_usage_active"] == pytest.approx(90.0)
    assert rows["a15"]["mem_available"] == pytest.approx(200 * GIB)

    series = viewer_api.get(f"/api/metrics/{hot.pk}/series/?metric={MEM}&range=1h")
    assert series.status_code == 200 and max(series.json()["values"]) == pytest.approx(200 * GIB)
    preview = viewer_api.get(f"/api/rules/{cpu_rule.pk}/preview/")
    assert preview.status_code == 200 and preview.json()["triggered"][0]["value"] == pytest.approx(90.0)
    assert operator_api.post(f"/api/rules/{cpu_rule.pk}/evaluate/").status_code == 200
    for url in (reverse("dashboard:overview"), reverse("dashboard:host", args=[hot.pk]),
                reverse("dashboard:rule", args=[cpu_rule.pk])):
        assert staff_client.get(url).status_code == 200, url


def test_a_host_with_only_nonsense_is_stale_and_the_others_are_still_evaluated(operator_api, hot_cluster,
                                                                                 make_host):
    broken = make_host("broken")
    _store_nonsense(broken)
    rule = create_rule({"name": "test-cpu", "threshold": 60, "period": "2m", "mode": "recommend"})
    response = operator_api.post(f"/api/rules/{rule.pk}/evaluate/")
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "recommend"  # a15 still fires and its guests still go to b20
    assert "broken" in Event.objects.get(pk=body["events"][0]["id"]).notes["stale"]["hosts"]


def test_samples_stamped_far_ahead_are_pruned(make_host):
    host = make_host("a15")
    now = timezone.now()
    HostSample.objects.create(host=host, metric=CPU, time=now + timedelta(days=3650), value=50)
    HostSample.objects.create(host=host, metric=CPU, time=now, value=50)
    assert prune_samples(now).rows == 1
    assert HostSample.objects.get().time == now


# --- auto-registration ---------------------------------------------------------------


@pytest.fixture
def auto_register(settings):
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE, "INGEST_AUTO_REGISTER_HOSTS": True,
        "INGEST_MAX_NEW_HOSTS_PER_REQUEST": 3, "INGEST_MAX_NEW_HOSTS_PER_HOUR": 5,
    }


def _new_hosts(names) -> str:
    return "".join(f"cpu,cpu=cpu-total,host={name} usage_active=5 {NOW_S}\n" for name in names)


def test_more_new_hosts_than_the_per_request_cap_are_refused_whole(write, auto_register, make_host):
    make_host("known")
    response = write(_new_hosts(["known", "n1", "n2", "n3", "n4"]))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "would register 4 new hosts" in error and "AUTOMIGRATE_INGEST_MAX_NEW_HOSTS_PER_REQUEST" in error
    assert list(Host.objects.values_list("name", flat=True)) == ["known"]
    assert not HostSample.objects.exists()
    assert write(_new_hosts(["n1", "n2", "n3"])).status_code == 204
    assert Host.objects.count() == 4


def test_the_per_hour_cap_counts_hosts_registered_in_the_last_hour(write, auto_register):
    assert write(_new_hosts(["a1", "a2", "a3"])).status_code == 204
    refused = write(_new_hosts(["b1", "b2", "b3"]))
    assert refused.status_code == 400
    assert "3 were registered in the last hour" in refused.json()["error"]
    assert not Host.objects.filter(name__startswith="b").exists()
    # An hour later the budget is back.
    Host.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert write(_new_hosts(["b1", "b2", "b3"])).status_code == 204


def test_a_refused_line_after_a_new_host_leaves_no_host_behind(write, auto_register):
    body = (f"mem,host=fresh available=10i,total=8i {NOW_S}\n")
    response = write(body)
    assert response.status_code == 400 and response.json()["error"].startswith("line 1: mem field available")
    assert not Host.objects.exists()


@pytest.mark.parametrize("tag", ["host", "vm_id"])
def test_a_tag_longer_than_a_name_is_a_400_naming_the_tag(write, auto_register, tag):
    measurement = "vm_cpu" if tag == "vm_id" else "cpu,cpu=cpu-total"
    response = write(f"cpu,cpu=cpu-total,host=ok usage_active=5 {NOW_S}\n"
                     f"{measurement},{tag}={'x' * 201} usage_active=5 {NOW_S}\n")
    assert response.status_code == 400
    assert response.json()["error"] == f"line 2: tag {tag} is 201 characters long: a name is at most 200"
    assert not Host.objects.exists()
