"""Window means from each real server, against hand-computed values, with the database source alongside.

Every source must answer the same question the same way: samples in
(now - period, now], a sample exactly on the start left out and one exactly on
the end counted, hosts matched by host_id (then host), guests by vm_id.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, Host
from automigrate.services import ingest
from automigrate.sources import get_source
from tests.sources import servers
from tests.sources.conftest import GIB, configure, cpu_line, every, mem_line, require, vm_line

pytestmark = pytest.mark.django_db
WINDOW = 120


@pytest.fixture(params=("database", *servers.KINDS))
def any_source(request, settings, tmp_path):
    """A writer of line protocol into the configured source: a real server, or our tables through /write."""
    if request.param == "database":
        settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database"}
        yield lambda lines: ingest.ingest("\n".join(lines), "s")
        return
    require(request.param)
    running = servers.start(request.param, tmp_path / request.param)
    configure(settings, request.param, running.url)
    yield running.write_lines
    running.stop()


@pytest.fixture
def inventory(db):
    node1 = Host.objects.create(name="node-1", external_id="uuid-1", cpu_count=32, mem_total=256 * GIB)
    node2 = Host.objects.create(name="node-2", cpu_count=32, mem_total=256 * GIB)
    node3 = Host.objects.create(name="node-3", cpu_count=32, mem_total=256 * GIB)
    vm_a = Guest.objects.create(name="vm-a", external_id="uuid-a", host=node1, vcpu_count=2, vmem_size=2048)
    vm_b = Guest.objects.create(name="vm-b", host=node1, vcpu_count=2, vmem_size=2048)
    vm_c = Guest.objects.create(name="vm-c", host=node2, vcpu_count=2, vmem_size=2048)
    return node1, node2, node3, vm_a, vm_b, vm_c


def telegraf_lines(now):
    start, lines = now - timedelta(seconds=WINDOW), []
    # node-1 by host_id (its external id): 12 samples 1..12 in the window -> 6.5; on the start (excluded): 99.
    lines.append(cpu_line("node-1", 99, start, host_id="uuid-1"))
    for value, at in enumerate(every(now, WINDOW - 10), start=1):
        lines.append(cpu_line("node-1", value, at, host_id="uuid-1"))
    lines.append(cpu_line("node-1", 99, now + timedelta(seconds=10), host_id="uuid-1"))  # after the end
    lines.append(cpu_line("node-1", 100, now, host_id="uuid-1", cpu="cpu0"))  # a per-core series: not the host's
    # Memory, an integer field as telegraf writes it: start (excluded), middle, end (included) -> 75 GiB.
    middle = now - timedelta(seconds=60)
    lines += [mem_line("node-1", 1, start, "uuid-1"), mem_line("node-1", 100 * GIB, middle, "uuid-1"),
              mem_line("node-1", 50 * GIB, now, "uuid-1")]
    # node-2 by its host tag only (no host_id): 40 and 60 -> 50; no memory series.
    lines += [cpu_line("node-2", 40, now - timedelta(seconds=60)), cpu_line("node-2", 60, now)]
    lines.append(cpu_line("ghost", 100, now))  # a host we do not know
    # Guests: vm-a by external id (0 on the start, excluded; 30, 50 -> 40), vm-b by name, vm-c on node-2.
    lines += [vm_line("uuid-a", 0, start), vm_line("uuid-a", 30, middle), vm_line("uuid-a", 50, now)]
    lines += [vm_line("vm-b", 70, now), vm_line("vm-c", 10, now)]
    return lines


def test_host_means_are_exact_with_the_window_open_at_the_start(any_source, inventory, now):
    node1, node2, _node3, *_ = inventory
    any_source(telegraf_lines(now))
    means = get_source().host_means(now - timedelta(seconds=WINDOW), now)
    assert set(means) == {node1.pk, node2.pk}  # node-3 has no data: absent, so stale
    assert means[node1.pk][CPU] == pytest.approx(6.5, rel=1e-9)
    assert means[node1.pk][MEM] == pytest.approx(75 * GIB, rel=1e-9)
    assert means[node2.pk] == {CPU: pytest.approx(50.0, rel=1e-9)}


def test_guest_means_only_for_the_guests_asked(any_source, inventory, now):
    *_, vm_a, vm_b, vm_c = inventory
    any_source(telegraf_lines(now))
    since = now - timedelta(seconds=WINDOW)
    asked = get_source().guest_means(since, now, [vm_a.pk, vm_b.pk])
    assert asked == {vm_a.pk: pytest.approx(40.0, rel=1e-9), vm_b.pk: pytest.approx(70.0, rel=1e-9)}
    every_guest = get_source().guest_means(since, now)
    assert every_guest == {vm_a.pk: pytest.approx(40.0, rel=1e-9), vm_b.pk: pytest.approx(70.0, rel=1e-9),
                           vm_c.pk: pytest.approx(10.0, rel=1e-9)}
    assert get_source().guest_means(since, now, []) == {}


def test_a_window_moved_by_one_sample_drops_the_first_and_takes_the_next(any_source, inventory, now):
    """The boundary from both sides: the window ending 10 s earlier has 99 on its start (excluded) and 1..11."""
    node1, *_ = inventory
    any_source(telegraf_lines(now))
    earlier = now - timedelta(seconds=10)
    means = get_source().host_means(earlier - timedelta(seconds=WINDOW), earlier)
    assert means[node1.pk][CPU] == pytest.approx((99 + sum(range(1, 12))) / 12, rel=1e-9)
