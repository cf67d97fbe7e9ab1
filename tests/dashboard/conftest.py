"""A small cluster with samples, rules, events and migrations for dashboard tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.engine import plan
from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, GuestSample, Host, HostSample, Migration, MigrationRule
from automigrate.services.events import record_event
from automigrate.services.rules import create_rule

GIB = 1024**3

# The seed's walkthrough: cpu-test-vm (24 vCPUs at 99.47 %) fits nowhere.
SEED_FAILURE = (
    "not found target for guest cpu-test-vm: [host:test-69-onecloud01:current(55.313408) + "
    "guest:cpu-test-vm:score(59.681970) >= threshold(60.000000), host:a15:current(62.305391) + "
    "guest:cpu-test-vm:score(59.681970) >= threshold(60.000000)]"
)


def seed_failure_notes() -> dict:
    """The seed's failure as the evaluator stores it: the reference's text and the engine's records."""
    from tests.engine.test_seed_examples import cpu_test_vm_cluster

    snapshot, rule = cpu_test_vm_cluster()
    (failure,) = plan(snapshot, rule).failures
    assert failure.notes == SEED_FAILURE
    return {"host": failure.host, "guest": failure.guest, "notes": failure.notes, **failure.records()}


@dataclass
class Cluster:
    hosts: list[Host]
    cpu_rule: MigrationRule
    mem_rule: MigrationRule

    @property
    def hot(self) -> Host:
        return self.hosts[0]


def add_samples(hosts, cpu_by_host, mem_by_host, minutes=30, step_seconds=60, now=None):
    """Flat CPU and memory samples for each host over the last ``minutes``."""
    now = now or timezone.now()
    rows = []
    for host in hosts:
        for k in range(0, minutes * 60 // step_seconds + 1):
            when = now - timedelta(seconds=k * step_seconds)
            rows.append(HostSample(host=host, metric=CPU, time=when, value=cpu_by_host[host.name]))
            rows.append(HostSample(host=host, metric=MEM, time=when, value=mem_by_host[host.name]))
    HostSample.objects.bulk_create(rows)


def build_cluster(make_host, make_guest, host_count=5, user=None) -> Cluster:
    now = timezone.now()
    hosts = [make_host(f"node-{i:03d}") for i in range(1, host_count + 1)]
    cpu = {host.name: 20.0 + i for i, host in enumerate(hosts)}
    mem = {host.name: 128.0 * GIB for host in hosts}
    cpu[hosts[0].name] = 85.0  # node-001 is hot on CPU
    mem[hosts[1].name] = 4.0 * GIB  # node-002 is low on memory
    add_samples(hosts, cpu, mem, now=now)

    guest_samples = []
    for i, host in enumerate(hosts[:3]):
        for j in range(3):
            guest = make_guest(f"vm-{i}-{j}", host, vcpu_count=8)
            guest_samples += [
                GuestSample(guest=guest, time=now - timedelta(seconds=30 * k), cpu=50.0) for k in range(4)
            ]
    GuestSample.objects.bulk_create(guest_samples)

    cpu_rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "2m"}, user)
    mem_rule = create_rule({"name": "low-mem", "metric": MEM, "threshold": "16G", "period": "5m"}, user)

    guest = hosts[0].guests.first()
    done = Migration.objects.create(
        guest=guest, source=hosts[0], target=hosts[3], rule=cpu_rule, state=Migration.State.SUCCEEDED,
        score=10.0, target_score=33.0, requested_at=now - timedelta(minutes=20),
        started_at=now - timedelta(minutes=20), finished_at=now - timedelta(minutes=18),
    )
    Migration.objects.create(
        guest=hosts[2].guests.first(), source=hosts[2], target=hosts[4], rule=cpu_rule,
        state=Migration.State.MIGRATING, requested_at=now - timedelta(seconds=40),
        started_at=now - timedelta(seconds=30),
    )
    move_notes = {
        "guest": {"id": "g1", "name": guest.name, "host_id": "h1", "host": hosts[0].name,
                  "vcpu_count": 8, "vmem_size": 8192, "score": 10.769393},
        "target_host": {"id": "h4", "name": hosts[3].name, "score": 22.650719},
    }
    record_event(Event.Action.MIGRATING, f"migrating {guest.name} to {hosts[3].name}", rule=cpu_rule,
                 guest=guest, source_host=hosts[0], target_host=hosts[3], migration=done, notes=move_notes)
    record_event(Event.Action.MIGRATE_SUCCESS, f"{guest.name} now runs on {hosts[3].name}", rule=cpu_rule,
                 guest=guest, source_host=hosts[0], target_host=hosts[3], migration=done, notes=move_notes)
    record_event(Event.Action.FIND_RESULT_FAIL, "no target for cpu-test-vm", rule=cpu_rule,
                 source_host=hosts[1], notes=seed_failure_notes())
    return Cluster(hosts=hosts, cpu_rule=cpu_rule, mem_rule=mem_rule)


@pytest.fixture
def cluster(make_host, make_guest) -> Cluster:
    return build_cluster(make_host, make_guest)
