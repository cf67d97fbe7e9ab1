"""Fast tests of the libvirt parsing, settings and bounds, against libvirt's test:///default driver.

test:///default is libvirt's own in-process fake hypervisor: one host (16 CPUs, 3 GiB,
no host UUID) with one running guest "test". It answers the inventory calls for real
(getInfo, getCapabilities, getAllDomainStats with only the state, dom.info) and refuses
migrations with VIR_ERR_NO_SUPPORT, so it serves the parsing, not the driver.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.core import checks

from automigrate.bounded import CallTimedOut
from automigrate.models import Event, Guest, Host
from automigrate.platforms import PlatformError, get_platform
from automigrate.services.inventory import sync_inventory
from automigrate.virt import config
from automigrate.virt.config import LibvirtConfigError, parse_hosts
from automigrate.virt.connection import error_line, open_connection, safe_uri
from automigrate.virt.readings import (
    PAUSED,
    PAUSED_MIGRATION,
    RUNNING,
    SHUTOFF,
    GuestReading,
    HostReading,
    available_bytes,
    guest_cpu_percent,
    host_cpu_percent,
    placed_guests,
    read_host,
)

TEST_URI = "test:///default"


@pytest.fixture
def test_conn(binding):
    conn = open_connection(TEST_URI, seconds=5)
    yield conn
    conn.close()


@pytest.fixture
def libvirt_conf(settings):
    def use(**values):
        settings.AUTOMIGRATE = {
            **settings.AUTOMIGRATE, "PLATFORM": "libvirt", "DRIVER": "",
            **{f"LIBVIRT_{k.upper()}": v for k, v in values.items()},
        }
        return settings

    return use


# --- settings --------------------------------------------------------------------


def test_hosts_split_at_the_first_equals_sign_so_uris_keep_their_query():
    hosts = parse_hosts(" h1=qemu+ssh://root@h1/system , h2=qemu+unix:///system?socket=/run/h2/libvirt-sock,")
    assert [(h.name, h.uri) for h in hosts] == [
        ("h1", "qemu+ssh://root@h1/system"), ("h2", "qemu+unix:///system?socket=/run/h2/libvirt-sock"),
    ]


@pytest.mark.parametrize(("raw", "message"), [
    ("h1", "item 1 ('h1'): write name=uri"),
    ("h1=qemu:///system,=qemu:///system", "item 2"),
    ("h1=http://h1/system", "URI scheme 'http' is not one of"),
    ("h1=qemu:///system,h1=qemu+tls://h1/system", "host name 'h1' appears twice"),
])
def test_bad_hosts_setting_names_the_item_and_what_is_allowed(raw, message):
    with pytest.raises(LibvirtConfigError, match="AUTOMIGRATE_LIBVIRT_HOSTS") as caught:
        parse_hosts(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_system_check_reports_libvirt_settings(libvirt_conf):
    libvirt_conf(hosts="h1", host_cpu="host")
    errors = [e for e in checks.run_checks() if e.id == "automigrate.E004"]
    assert len(errors) == 1 and "AUTOMIGRATE_LIBVIRT_HOSTS item 1" in errors[0].msg
    libvirt_conf(hosts="h1=qemu:///system", host_cpu="guest")
    assert [e.msg for e in checks.run_checks() if e.id == "automigrate.E004"] == [
        "AUTOMIGRATE_LIBVIRT_HOST_CPU='guest': use host or guests"
    ]


def test_passwords_never_reach_messages():
    assert safe_uri("qemu+ssh://admin:s3cret@h1/system") == "qemu+ssh://admin@h1/system"


# --- readings from test:///default -------------------------------------------------


def test_a_host_is_read_with_its_guests(test_conn):
    reading = read_host(test_conn, "t1", counters=True)
    info = test_conn.getInfo()
    assert (reading.cpu_count, reading.mem_total) == (info[2], info[1] * 1024 * 1024)
    assert reading.uuid == "t1"  # the test driver has no host UUID: the name stands in
    assert reading.cpu_arch == "i686" and reading.host_type == "test"
    [guest] = reading.guests
    dom = test_conn.lookupByName("test")
    # The test driver's stats carry only the state: vCPUs and memory come from dom.info().
    assert (guest.name, guest.uuid, guest.state) == ("test", dom.UUIDString(), RUNNING)
    assert (guest.vcpus, guest.memory_kib) == (dom.info()[3], dom.info()[1])
    assert set(reading.cpu_stats) >= {"kernel", "user", "idle"}
    assert reading.memory_stats is None  # the test driver has no getMemoryStats: unsampled, not an error


def test_a_guest_listed_on_two_hosts_is_where_it_runs():
    def host(uuid, *guests):
        return HostReading(name=uuid, uuid=uuid, cpu_count=2, mem_total=1, host_type="kvm", cpu_arch="x86_64",
                           guests=list(guests))

    def guest(uuid, state, reason=0):
        return GuestReading(uuid=uuid, name=f"vm-{uuid}", state=state, reason=reason, vcpus=1,
                            memory_kib=65536, cpu_time_ns=0)

    incoming = guest("a", PAUSED, PAUSED_MIGRATION)
    placed = placed_guests([
        host("dest", incoming, guest("b", SHUTOFF)),
        host("source", guest("a", RUNNING), guest("c", RUNNING)),
    ])
    assert [(g.name, g.host_external_id, g.status) for g in placed] == [
        ("vm-a", "source", "running"), ("vm-b", "dest", "stopped"), ("vm-c", "source", "running"),
    ]
    assert placed[0].vmem_size == 64
    # Only the incoming copy left (the source has already undefined it): it is migrating there.
    [alone] = placed_guests([host("dest", incoming)])
    assert (alone.host_external_id, alone.status) == ("dest", "migrating")


def test_rates_from_counters():
    before = {"kernel": 100, "user": 300, "idle": 500, "iowait": 100}
    after = {"kernel": 200, "user": 600, "idle": 1000, "iowait": 200}
    assert host_cpu_percent(before, after) == pytest.approx(100 * 400 / 1000)
    assert host_cpu_percent(after, before) is None  # counters went back: host rebooted
    assert host_cpu_percent(before, before) is None
    assert available_bytes({"total": 1000, "free": 100, "buffers": 20, "cached": 30}) == 150 * 1024
    assert available_bytes({}) is None
    assert guest_cpu_percent(0, 1_500_000_000, 2.0, 1) == pytest.approx(75.0)
    assert guest_cpu_percent(0, 1_500_000_000, 2.0, 3) == pytest.approx(25.0)
    assert guest_cpu_percent(5, 1, 2.0, 1) is None


# --- errors --------------------------------------------------------------------------


def test_libvirt_errors_are_one_readable_line_with_the_code(test_conn, binding):
    with pytest.raises(binding.libvirtError) as missing:
        test_conn.lookupByName("no-such-vm")
    line = error_line(missing.value, "looking up no-such-vm")
    assert line.startswith("looking up no-such-vm: no such guest: ")
    assert line.endswith("(libvirt code 42)") and "\n" not in line
    dom = test_conn.lookupByName("test")
    with pytest.raises(binding.libvirtError) as refused:
        dom.migrateToURI3("test:///default", {}, binding.VIR_MIGRATE_LIVE | binding.VIR_MIGRATE_PEER2PEER)
    assert error_line(refused.value, "migration") == (
        "migration: not supported by this host: argument unsupported: p2p migration is not supported by the"
        " source host (libvirt code 74)"
    )
    with pytest.raises(binding.libvirtError) as unsupported:
        dom.jobStats()
    line = error_line(unsupported.value, "reading the job")
    assert "not supported by this libvirt driver" in line and line.endswith("(libvirt code 3)")


# --- bounds ------------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word (a hung libvirtd)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_connection_that_never_answers_is_given_up_on_time(binding, silent_server, libvirt_conf):
    libvirt_conf(connect_timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(CallTimedOut, match=rf"libvirt connection to qemu\+tcp://127.0.0.1:{silent_server}/system"):
        open_connection(f"qemu+tcp://127.0.0.1:{silent_server}/system")
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_one_hung_host_does_not_hold_the_inventory(binding, silent_server, libvirt_conf):
    libvirt_conf(
        hosts=f"t1={TEST_URI},hung=qemu+tcp://127.0.0.1:{silent_server}/system,gone=qemu+tcp://127.0.0.1:1/system",
        connect_timeout_seconds=1, call_timeout_seconds=1,
    )
    Host.objects.create(name="hung", external_id="uuid-hung", cpu_count=2, mem_total=2**30)
    report = sync_inventory()
    assert not report.error
    assert Host.objects.get(name="t1").status == Host.Status.ONLINE
    assert Guest.objects.get(name="test").host.name == "t1"
    hung = Host.objects.get(name="hung")
    assert hung.status == Host.Status.OFFLINE
    event = Event.objects.get(action=Event.Action.INVENTORY, source_host=hung)
    assert "did not answer" in event.summary and "libvirt connection to" in event.summary
    changes = {(kind, name): change for kind, name, change in report.changes}
    assert "gone" not in changes  # never seen, never created


@pytest.mark.django_db
def test_hosts_without_a_host_uuid_are_known_by_their_name(binding, libvirt_conf):
    libvirt_conf(hosts=f"a={TEST_URI},b={TEST_URI}")
    platform = get_platform()
    inventory = platform.read_inventory()
    assert {(h.name, h.external_id) for h in inventory.hosts} == {("a", "a"), ("b", "b")}
    assert config.configured_hosts()[0].uri == TEST_URI


@pytest.mark.django_db
def test_no_host_answering_is_an_error_and_changes_nothing(binding, libvirt_conf, make_host):
    libvirt_conf(hosts="gone=qemu+tcp://127.0.0.1:1/system", connect_timeout_seconds=2)
    make_host("gone", external_id="uuid-gone")
    with pytest.raises(PlatformError, match=r"no libvirt host answered: reading gone: host unreachable: .*code 38"):
        get_platform().read_inventory()
    report = sync_inventory()
    assert report.error.startswith("inventory not read: no libvirt host answered")
    assert Host.objects.get(name="gone").status == Host.Status.ONLINE


# --- wiring --------------------------------------------------------------------------


@pytest.mark.django_db
def test_beat_samples_libvirt_only_with_the_libvirt_source(libvirt_conf):
    from django_celery_beat.models import PeriodicTask

    from automigrate.services import schedule

    settings = libvirt_conf(hosts=f"t1={TEST_URI}")
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "libvirt"}
    schedule.ensure_system_schedules()
    tasks = {t.task: t.enabled for t in PeriodicTask.objects.all()}
    assert tasks["automigrate.tasks.sample_metrics"] and tasks["automigrate.tasks.sync_inventory"]
    assert not tasks["automigrate.tasks.simulator_tick"]
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database"}
    schedule.ensure_system_schedules()
    assert not PeriodicTask.objects.get(task="automigrate.tasks.sample_metrics").enabled


@pytest.mark.django_db
def test_the_dashboard_shows_the_progress_the_driver_reported(make_host, make_guest):
    from django.utils import timezone

    from automigrate.models import Migration
    from dashboard.queries import estimated_progress

    source, target = make_host("s"), make_host("t")
    guest = make_guest("g", source, vmem_size=64)
    migration = Migration.objects.create(guest=guest, source=source, target=target, state="migrating",
                                         started_at=timezone.now())
    estimate = estimated_progress(migration)
    migration.progress = 0.42
    assert estimated_progress(migration) == 0.42 != estimate
