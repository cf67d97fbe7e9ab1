"""The live simulated cluster: hosts and guests in the database, samples every tick.

The simulator plays both roles of a real cloud for a fresh machine: it is the
metric source (``tick`` writes HostSample/GuestSample rows, the tables the
InfluxDB /write endpoint fills) and, with automigrate.drivers.simulator, the
migration driver. All its state is in the database (hosts, guests with their
``workload``), so the web server, the Celery worker and beat agree on it.

Host values follow from the guests placed on them:

* ``cpu.usage_active`` = base noise + Σ guest usage × vCPUs / host cpu_count (capped at 100);
* ``mem.available`` = mem_total − Σ guest memory − a reserve for the hypervisor.

A guest being migrated still runs (and counts) on its source until the move succeeds.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.services import storage
from automigrate.services.bulk import insert_rows
from automigrate.simulator import workloads
from automigrate.sources import source_class

GIB = 1024**3
HOST_RESERVED_BYTES = 4 * GIB  # hypervisor and page cache the guests cannot use
HOST_BASE_CPU = 2.0  # % busy with nothing running (hypervisor, agents)

# Mixed host sizes (cores, memory), cycled so a small cluster still has each kind.
HOST_SIZES = ((40, 256 * GIB), (64, 512 * GIB), (32, 192 * GIB), (16, 128 * GIB))
# Guest flavours (vCPUs, MB) with weights favouring small guests, as clouds see.
FLAVOURS = ((1, 1024), (2, 2048), (2, 4096), (4, 8192), (8, 16384), (16, 32768))
FLAVOUR_WEIGHTS = (0.15, 0.25, 0.2, 0.25, 0.1, 0.05)
GUEST_SEED_COLUMNS = ("name", "external_id", "host", "vcpu_count", "vmem_size", "status", "labels", "workload",
                      "created_at", "updated_at")
# Seeding leaves this share of each host's memory free.
SEED_MEM_FREE = 0.20


class SimulatorError(Exception):
    """A simulator command that cannot be done; the message is one line for the user."""


@dataclass(frozen=True)
class SeedSummary:
    hosts: int
    guests: int

    def __str__(self) -> str:
        return f"seeded a simulated cluster of {self.hosts} hosts and {self.guests} guests"


def seed_cluster(
    hosts: int = 12, guests: int = 150, seed: int = 0, prefix: str = "sim", backfill_seconds: int = 0,
    now: datetime | None = None,
) -> SeedSummary:
    """Create hosts of mixed sizes and guests with random workloads, placed to fit.

    Placement puts each guest on the host with the lowest planned CPU share
    where its memory fits, so the cluster starts healthy; demos then make it
    unhealthy on purpose (``set_workload(..., "stress")``).
    """
    if hosts < 1 or guests < 0:
        raise SimulatorError("seed needs at least 1 host and 0 or more guests")
    if Host.objects.filter(name__startswith=f"{prefix}-host-").exists():
        raise SimulatorError(f"a simulated cluster ({prefix}-host-*) already exists: nothing seeded")
    rng = random.Random(seed)
    stamp = timezone.now()
    with transaction.atomic():
        host_rows = Host.objects.bulk_create([
            Host(name=f"{prefix}-host-{i + 1:02d}", external_id=f"{prefix}-host-{i + 1:02d}",
                 cpu_count=HOST_SIZES[i % len(HOST_SIZES)][0], mem_total=HOST_SIZES[i % len(HOST_SIZES)][1])
            for i in range(hosts)
        ])
        host_rows = list(Host.objects.filter(name__in=[h.name for h in host_rows]).order_by("name"))
        placer = _Placer(host_rows)
        new_guests = []
        for i in range(guests):
            vcpus, mb = rng.choices(FLAVOURS, weights=FLAVOUR_WEIGHTS)[0]
            workload = workloads.random_workload(rng)
            host = placer.place(mb * 1024**2, vcpus * float(workload.get("level", 1.0)))
            if host is None:
                break  # the cluster is full: fewer guests than asked rather than an unhealthy start
            new_guests.append((
                f"{prefix}-vm-{i + 1:03d}", f"{prefix}-vm-{i + 1:03d}", host.pk, vcpus, mb, Guest.Status.RUNNING,
                "[]", json.dumps(workload), stamp, stamp,
            ))
        # COPY on PostgreSQL: 200k Guest objects through bulk_create took minutes.
        insert_rows(Guest, GUEST_SEED_COLUMNS, new_guests, json_fields=("labels", "workload"))
    if backfill_seconds:
        backfill(backfill_seconds, now=now)
    return SeedSummary(hosts=len(host_rows), guests=len(new_guests))


class _Placer:
    """Each guest on the host with the lowest planned CPU share where its memory fits.

    The same choice as ``min(fitting hosts, key=(share, name))``, in O(log H) per
    guest instead of O(H): one heap per flavour size holds the hosts that still
    fit that size, keyed by share. A host's older heap entries go stale when it
    takes a guest (its version moves on) and are skipped when they surface, so
    seeding 10k hosts / 200k guests takes seconds, not hours.
    """

    def __init__(self, host_rows: list[Host]):
        self.sizes = sorted({mb * 1024**2 for _, mb in FLAVOURS})
        self.hosts = {h.pk: h for h in host_rows}
        self.demand = {h.pk: 0.0 for h in host_rows}  # vCPU-percent planned on each host
        self.free = {h.pk: h.mem_total * (1 - SEED_MEM_FREE) - HOST_RESERVED_BYTES for h in host_rows}
        self.version = {h.pk: 0 for h in host_rows}
        self.heaps: dict[int, list] = {size: [] for size in self.sizes}
        for h in host_rows:
            self._push(h.pk)

    def _push(self, pk: int) -> None:
        host = self.hosts[pk]
        entry = (self.demand[pk] / host.cpu_count, host.name, pk, self.version[pk])
        for size in self.sizes:
            if self.free[pk] < size:
                break  # sizes ascend: no larger one fits either
            heapq.heappush(self.heaps[size], entry)

    def place(self, size: int, demand: float) -> Host | None:
        heap = self.heaps.get(size)
        if heap is None:  # a size not among the flavours: the plain scan
            fits = [pk for pk in self.hosts if self.free[pk] >= size]
            pk = min(fits, key=lambda k: (self.demand[k] / self.hosts[k].cpu_count, self.hosts[k].name), default=None)
        else:
            pk = None
            while heap:
                _, _, candidate, version = heapq.heappop(heap)
                if version == self.version[candidate]:
                    pk = candidate
                    break
        if pk is None:
            return None
        self.demand[pk] += demand
        self.free[pk] -= size
        self.version[pk] += 1
        self._push(pk)
        return self.hosts[pk]


def set_workload(guest_name: str, shape: str, **params: float) -> Guest:
    """Change a guest's load on the fly (``simulator stress GUEST`` / ``calm GUEST``)."""
    if shape not in workloads.SHAPES:
        raise SimulatorError(f"'{shape}' is not a workload shape: use one of {', '.join(workloads.SHAPES)}")
    level = params.get("level")
    # A percentage of the guest's vCPUs; NaN would also fail to store (JSON has no NaN).
    if level is not None and not (math.isfinite(level) and 0 <= level <= 100):
        raise SimulatorError(f"level must be a CPU percentage from 0 to 100, not {level:g}")
    guest = Guest.objects.filter(name=guest_name).first()
    if guest is None:
        raise SimulatorError(f"no guest named '{guest_name}' (see `manage.py simulator status`)")
    guest.workload = {"shape": shape, **params}
    Guest.objects.filter(pk=guest.pk).update(workload=guest.workload)
    return guest


# --- samples -----------------------------------------------------------------


@dataclass(frozen=True)
class _Inventory:
    hosts: list[tuple[int, int, int]]  # pk, cpu_count, mem_total of hosts that report
    guests: list[tuple[int, int, int, int, dict]]  # pk, host pk, vcpus, MB, workload of running guests


# Parsed workloads by their JSON text: a worker ticks every 10 s with mostly the same
# workloads, and decoding 100k of them was a fifth of a round at 5k hosts.
_WORKLOADS: dict[str, dict] = {}
_WORKLOADS_KEPT = 1_000_000


def _workload(text: str | None) -> dict:
    if text is None:
        return {}
    found = _WORKLOADS.get(text)
    if found is None:
        if len(_WORKLOADS) >= _WORKLOADS_KEPT:
            _WORKLOADS.clear()
        found = _WORKLOADS[text] = json.loads(text)
    return found


def _inventory() -> _Inventory:
    hosts = list(
        Host.objects.filter(status=Host.Status.ONLINE).order_by("pk").values_list("pk", "cpu_count", "mem_total")
    )
    reporting = {pk for pk, *_ in hosts}
    rows = (
        Guest.objects.filter(status__in=(Guest.Status.RUNNING, Guest.Status.MIGRATING))
        .annotate(workload_text=Cast("workload", TextField()))
        .order_by("pk").values_list("pk", "host_id", "vcpu_count", "vmem_size", "workload_text")
    )
    guests = [(pk, host, vcpus, mb, _workload(text)) for pk, host, vcpus, mb, text in rows if host in reporting]
    return _Inventory(hosts, guests)


HOST_COLUMNS = ("host", "metric", "time", "value")
GUEST_COLUMNS = ("guest", "time", "cpu")


def _samples(inventory: _Inventory, at: datetime) -> tuple[list[tuple], list[tuple]]:
    """One round: (host, metric, time, value) and (guest, time, cpu) rows, as /write stores them."""
    t = at.timestamp()
    busy = defaultdict(float)  # vCPU-percent per host
    used = defaultdict(int)  # bytes per host
    guest_samples = []
    for pk, host_pk, vcpus, mb, workload in inventory.guests:
        cpu = workloads.usage(workload or {}, pk, t)
        busy[host_pk] += cpu * vcpus
        used[host_pk] += mb * 1024**2
        guest_samples.append((pk, at, round(cpu, 3)))
    host_samples = []
    step = int(t // workloads.STEP_SECONDS)
    for pk, cpu_count, mem_total in inventory.hosts:
        if cpu_count <= 0 or mem_total <= 0:
            # No such host can be stored since migration 0006, but a tick must never die on
            # one: every other host would stop reporting with it (and every rule go stale).
            continue
        base = HOST_BASE_CPU + workloads.unit(pk, step, 1)
        cpu = min(100.0, base + busy[pk] / cpu_count)
        mem = max(0.0, mem_total - used[pk] - HOST_RESERVED_BYTES - workloads.unit(pk, step, 2) * 64 * 1024**2)
        host_samples.append((pk, CPU, at, round(cpu, 3)))
        host_samples.append((pk, MEM, at, float(mem)))
    return host_samples, guest_samples


def _write(samples: Iterable[tuple[list[tuple], list[tuple]]]) -> tuple[int, int]:
    """COPY on PostgreSQL, like /write: a 5k-host / 100k-guest round in well under its period."""
    hosts = guests = 0
    for host_samples, guest_samples in samples:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A round is regenerated every period: after a crash losing the last few hundred ms
                # of rounds is harmless, and not waiting for the WAL flush halves the commit.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # One row per host metric and per guest at this time: no key repeats within a round.
            storage.write_samples(HostSample, HOST_COLUMNS, host_samples, unique=True)
            storage.write_samples(GuestSample, GUEST_COLUMNS, guest_samples, unique=True)
        hosts += len(host_samples)
        guests += len(guest_samples)
    return hosts, guests


def tick(now: datetime | None = None) -> tuple[int, int]:
    """Write one sample per online host (CPU and memory) and per running guest; returns the counts.

    Nothing is written when the metric source is an external store (InfluxDB,
    VictoriaMetrics, Prometheus): it keeps its own samples and nobody would read ours.
    """
    if not source_class().reads_our_tables:
        return 0, 0
    now = now or timezone.now()
    return _write([_samples(_inventory(), now)])


def backfill(seconds: int, now: datetime | None = None, step: int = workloads.STEP_SECONDS) -> tuple[int, int]:
    """Samples for the last ``seconds`` with today's placement: a fresh cluster has a full window at once."""
    now = now or timezone.now()
    inventory = _inventory()
    times = [now - timedelta(seconds=offset) for offset in range(int(seconds), -1, -int(step))]
    return _write(_samples(inventory, at) for at in times)


def describe() -> str:
    """A short text of the simulated cluster: hosts with their latest values and guest counts."""
    lines = []
    counts = defaultdict(int)
    for host_id in Guest.objects.values_list("host_id", flat=True):
        counts[host_id] += 1
    latest: dict[tuple[int, str], float] = {}
    since = timezone.now() - timedelta(minutes=2)
    for host_id, metric, value in (
        HostSample.objects.filter(time__gte=since).order_by("time").values_list("host_id", "metric", "value")
    ):
        latest[(host_id, metric)] = value
    for host in Host.objects.order_by("name"):
        cpu, mem = latest.get((host.pk, CPU)), latest.get((host.pk, MEM))
        cpu_text = f"{cpu:5.1f}%" if cpu is not None else "   n/a"
        mem_text = f"{mem / GIB:7.1f} GiB free" if mem is not None else "     n/a"
        lines.append(f"{host.name:20} {host.cpu_count:3} cores {host.mem_total / GIB:5.0f} GiB  cpu {cpu_text}"
                     f"  mem {mem_text}  {counts[host.pk]:3} guests  {host.status}")
    for guest in Guest.objects.filter(workload__shape=workloads.STRESS).select_related("host"):
        lines.append(f"  {guest.name} on {guest.host.name}: {guest.workload.get('shape')} ({guest.vcpu_count} vCPU)")
    return "\n".join(lines) or "no hosts: run `manage.py simulator seed`"
