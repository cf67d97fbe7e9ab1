"""Helpers for the evaluator tests: flat sample series, a two-hot-host cluster, fake drivers."""

from datetime import datetime, timedelta

from automigrate.drivers.base import RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.services.rules import create_rule

GIB = 1024**3

def tune(settings, **values):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, **values}


def write_samples(host: Host, now: datetime, *, cpu: float | None = None, mem: float | None = None,
                  seconds: int = 120, step: int = 10) -> None:
    """A flat series for ``host`` over the last ``seconds``: its window mean is exactly the value."""
    rows = []
    for offset in range(0, seconds, step):
        at = now - timedelta(seconds=offset)
        if cpu is not None:
            rows.append(HostSample(host=host, metric=CPU, time=at, value=cpu))
        if mem is not None:
            rows.append(HostSample(host=host, metric=MEM, time=at, value=mem))
    HostSample.objects.bulk_create(rows)


def write_guest_samples(guest: Guest, now: datetime, cpu: float, seconds: int = 120, step: int = 10) -> None:
    GuestSample.objects.bulk_create(
        GuestSample(guest=guest, time=now - timedelta(seconds=offset), cpu=cpu) for offset in range(0, seconds, step)
    )


class TwoHotHosts:
    """hot-cpu fires a CPU rule (one 24-vCPU guest at 100 %); hot-mem fires a memory rule.

    Two big idle hosts can take anything. Values are written as flat series,
    so plans are exact and need no simulator.
    """

    def __init__(self, now: datetime):
        self.now = now
        self.hot_cpu = Host.objects.create(name="hot-cpu", cpu_count=40, mem_total=256 * GIB)
        self.hot_mem = Host.objects.create(name="hot-mem", cpu_count=40, mem_total=256 * GIB)
        self.spare1 = Host.objects.create(name="spare-1", cpu_count=64, mem_total=512 * GIB)
        self.spare2 = Host.objects.create(name="spare-2", cpu_count=64, mem_total=512 * GIB)
        self.busy = Guest.objects.create(name="busy-vm", host=self.hot_cpu, vcpu_count=24, vmem_size=1024)
        self.big = Guest.objects.create(name="big-vm", host=self.hot_mem, vcpu_count=2, vmem_size=16384)
        write_samples(self.hot_cpu, now, cpu=65.0, mem=200 * GIB)
        write_samples(self.hot_mem, now, cpu=10.0, mem=8 * GIB)
        write_samples(self.spare1, now, cpu=5.0, mem=400 * GIB)
        write_samples(self.spare2, now, cpu=5.0, mem=400 * GIB)
        write_guest_samples(self.busy, now, 100.0)
        write_guest_samples(self.big, now, 10.0)

    def cpu_rule(self, name="cpu-rule", **extra):
        return create_rule({"name": name, "metric": CPU, "threshold": 60, "period": "2m", **extra})

    def mem_rule(self, name="mem-rule", **extra):
        return create_rule({"name": name, "metric": MEM, "threshold": "16G", "period": "2m", **extra})


class HangingDriver(MigrationDriver):
    """Accepts every migration and never finishes one."""

    name = "hanging"
    cancelled: list[int] = []

    def start(self, migration, now):
        return f"hang-{migration.pk}"

    def poll(self, migration, now):
        return PollResult(RUNNING)

    def cancel(self, migration):
        HangingDriver.cancelled.append(migration.pk)


class RefusingDriver(MigrationDriver):
    """Refuses to migrate guests whose name is in ``refuse``; others finish at the first poll."""

    name = "refusing"
    refuse = frozenset()

    def start(self, migration, now):
        if migration.guest.name in self.refuse:
            raise DriverError(f"compute service refused {migration.guest.name}: no capacity on target")
        return f"ok-{migration.pk}"

    def poll(self, migration, now):
        return PollResult(SUCCEEDED, host_name=migration.target.name)
