"""The demo of `make run`: a simulated cluster that shows a rule firing within minutes.

Shaped like the seed's walkthrough: a 24-vCPU ``cpu-test-vm`` running
stress-ng (all vCPUs at 100 %) on a 40-core host pushes it past the
``test-cpu`` rule (cpu.usage_active > 60, period 2m); a host nearly out of
memory fires ``test-mem`` (mem.available < 16G). Both rules are checked for the
first time about two minutes after start; one takes the global lock and the
other records a ``skip`` naming its batch, then gets its turn.
"""

from __future__ import annotations

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, Host, MigrationRule
from automigrate.services.rules import create_rule
from automigrate.simulator import cluster, workloads

DEMO_SEED = 7
DEMO_HOSTS = 12
# Light enough (about 18 % CPU) that a 64-core host can take the stressed VM's 24 busy vCPUs.
DEMO_GUESTS = 100
HOT_HOST = "sim-host-01"  # 40 cores, as in the seed
TIGHT_HOST = "sim-host-04"  # 16 cores, 128 GiB
TIGHT_AVAILABLE = 12 * cluster.GIB  # under test-mem's 16G threshold
RULES = (
    {"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "2m"},
    {"name": "test-mem", "metric": MEM, "threshold": "16G", "period": "2m"},
)
# Samples for one full window at once, so the first check already has fresh means.
BACKFILL_SECONDS = 150


def ensure_demo_cluster() -> str:
    """Seed the demo cluster and rules on an empty database; otherwise say what is there."""
    if Host.objects.exists():
        return f"demo: the cluster already has {Host.objects.count()} hosts; nothing seeded"
    summary = cluster.seed_cluster(hosts=DEMO_HOSTS, guests=DEMO_GUESTS, seed=DEMO_SEED)
    hot = Host.objects.get(name=HOT_HOST)
    Guest.objects.create(
        name="cpu-test-vm", external_id="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024,
        workload={"shape": workloads.STRESS},
    )
    _fill_memory(Host.objects.get(name=TIGHT_HOST))
    cluster.backfill(BACKFILL_SECONDS)
    created = []
    for data in RULES:
        if not MigrationRule.objects.filter(name=data["name"]).exists():
            created.append(create_rule(dict(data)).describe())
    lines = [
        f"demo: {summary}",
        f"demo: cpu-test-vm (24 vCPU, stress) on {HOT_HOST}; {TIGHT_HOST} nearly out of memory",
    ]
    lines += [f"demo: rule {line}" for line in created]
    lines.append("demo: the rules are first checked about 2 minutes after start;"
                 " watch them on the dashboard's Event log (/events/)")
    return "\n".join(lines)


def _fill_memory(host: Host) -> None:
    """Leave ``host`` with TIGHT_AVAILABLE bytes: an 8 GiB guest (the obvious one to move) plus a filler."""
    Guest.objects.create(
        name="db-cache-vm", external_id="db-cache-vm", host=host, vcpu_count=2, vmem_size=8192,
        workload={"shape": workloads.STEADY, "level": 10},
    )
    used = sum(g.vmem_size for g in host.guests.all()) * 1024**2
    filler_mb = int((host.mem_total - used - cluster.HOST_RESERVED_BYTES - TIGHT_AVAILABLE) // 1024**2)
    if filler_mb > 0:
        Guest.objects.create(
            name="mem-test-vm", external_id="mem-test-vm", host=host, vcpu_count=2, vmem_size=filler_mb,
            workload={"shape": workloads.STEADY, "level": 5},
        )


# `make lab`'s rule: lab-h1's four guests (20 % of a CPU each) put it at ~40 % of its 2 CPUs;
# moving two of them to lab-h2 leaves both hosts at ~20 % (lab/libvirt_lab.py, DEMO_GUESTS).
LAB_RULE = {"name": "lab-cpu", "metric": CPU, "threshold": 25, "period": "1m"}


def ensure_libvirt_lab() -> str:
    """`make lab` + `make run`: read the lab's hosts and guests now and add the lab's rule once."""
    from automigrate.services.inventory import sync_inventory

    report = sync_inventory()
    if MigrationRule.objects.filter(name=LAB_RULE["name"]).exists():
        return f"libvirt lab: {report}; rule {LAB_RULE['name']} already there"
    rule = create_rule(dict(LAB_RULE))
    return f"libvirt lab: {report}; created rule {rule.describe()}"
