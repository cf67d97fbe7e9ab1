"""`manage.py metrics probe` and the system check say at once whether the source answers, and for whom."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.utils import timezone

from automigrate.models import Guest, Host
from automigrate.sources import get_source
from tests.sources import servers
from tests.sources.conftest import GIB, configure, cpu_line, vm_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory(db):
    node1 = Host.objects.create(name="node-1", cpu_count=8, mem_total=64 * GIB)
    Host.objects.create(name="node-2", cpu_count=8, mem_total=64 * GIB)
    Guest.objects.create(name="vm-a", host=node1, vcpu_count=1, vmem_size=1024)
    Guest.objects.create(name="vm-b", host=node1, vcpu_count=1, vmem_size=1024)


def fed(server):
    moment = timezone.now() - timedelta(seconds=5)
    server.write_lines([cpu_line("node-1", 50, moment), vm_line("vm-a", 20, moment)])


def run_probe(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("metrics", "probe", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_probe_names_the_hosts_and_guests_without_data(use_server, inventory):
    fed(use_server)
    code, out, _ = run_probe("--window", "1m")
    assert code == 0
    assert f"metric source {use_server.url}: answered in" in out
    assert "hosts: 1 of 2 have data in the last 60 s; none for node-2" in out
    assert "guests: 1 of 2 have data in the last 60 s; none for vm-b" in out


def test_probe_of_a_source_that_does_not_answer_fails_with_its_reason(kind, settings, inventory):
    url = f"http://127.0.0.1:{servers.free_port()}"
    configure(settings, kind, url, METRIC_TIMEOUT_SECONDS=1)
    assert run_probe() == (1, "", f"metric source {url} did not answer: connection refused\n")


def test_probe_refuses_a_bad_window(settings, inventory):
    configure(settings, "influxdb", "http://127.0.0.1:9")
    code, _, err = run_probe("--window", "soon")
    assert code == 2 and err.startswith("metrics probe: --window:")


def test_system_check_warns_about_hosts_without_data_and_a_silent_source(use_server, inventory, settings):
    fed(use_server)
    found = {message.id: message.msg for message in checks.run_checks()}
    assert found == {"automigrate.W001": "hosts: 1 of 2 have data in the last 300 s; none for node-2"}
    use_server.stop()
    found = {message.id: message.msg for message in checks.run_checks()}
    assert found == {"automigrate.W001": f"metric source {use_server.url} did not answer: connection refused"}


def test_system_check_names_a_missing_url(settings, db):
    configure(settings, "prometheus", "")
    found = {message.id: message.msg for message in checks.run_checks()}
    assert found == {"automigrate.E003": "AUTOMIGRATE_METRIC_SOURCE=prometheus needs AUTOMIGRATE_METRIC_URL"
                                         " (e.g. http://127.0.0.1:8086)"}


def test_system_check_does_not_ask_sources_that_read_our_tables(settings, db, django_assert_num_queries):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database"}
    with django_assert_num_queries(0):
        assert not [m for m in checks.run_checks() if m.id.startswith("automigrate.")]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("METRIC_URL", "ftp://x", "AUTOMIGRATE_METRIC_URL='ftp://x': use http://host:port or https://host:port"),
    ("METRIC_TIMEOUT_SECONDS", 0, "AUTOMIGRATE_METRIC_TIMEOUT_SECONDS=0: use more than 0, at most 600"),
    ("METRIC_HOST_CPU_TAGS", "cpu", "AUTOMIGRATE_METRIC_HOST_CPU_TAGS: 'cpu' is not tag=value (e.g. cpu=cpu-total)"),
])
def test_bad_settings_are_one_line_naming_the_setting(settings, name, value, message):
    from django.core.exceptions import ImproperlyConfigured

    configure(settings, "influxdb", "http://127.0.0.1:8086", **{name: value})
    with pytest.raises(ImproperlyConfigured) as error:
        get_source()
    assert str(error.value) == message
