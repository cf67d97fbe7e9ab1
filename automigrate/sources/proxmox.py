"""Metrics from Proxmox VE itself: node CPU and memory, VM CPU, from the same call as the inventory.

Proxmox reports only the current values, so this source *samples*: beat calls
``sample`` every AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS and the numbers are
stored like pushed samples; window means are then read back from the database
exactly as for ``/write`` (this class is a DatabaseSource for reading).

``/cluster/resources`` gives ``cpu`` as a 0–1 fraction (of the node's cores,
of a VM's own vCPUs) and ``mem``/``maxmem`` in bytes; a node's available
memory is ``maxmem - mem``. Values outside their ranges are dropped.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from automigrate.bounded import call_bounded
from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.platforms.proxmox import resources
from automigrate.sources.database import DatabaseSource


def _percent(fraction) -> float | None:
    try:
        value = float(fraction) * 100.0
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 100.0 else None


class ProxmoxSource(DatabaseSource):
    name = "proxmox"

    def sample(self, now: datetime) -> str:
        """Store one sample per online node (CPU, memory) and per running VM (CPU); says how many."""
        # Only the call to Proxmox is bounded (in a thread); our own writes stay in this one.
        rows = call_bounded(resources, seconds=float(settings.AUTOMIGRATE["INVENTORY_TIMEOUT_SECONDS"]),
                            what="Proxmox metric sampling")
        hosts = dict(Host.objects.exclude(external_id="").values_list("external_id", "pk"))
        guests = dict(Guest.objects.exclude(external_id="").values_list("external_id", "pk"))
        host_samples: list[HostSample] = []
        guest_samples: list[GuestSample] = []
        for row in rows:
            if row.get("type") == "node" and row.get("status") == "online" and row.get("node") in hosts:
                pk = hosts[row["node"]]
                cpu = _percent(row.get("cpu"))
                if cpu is not None:
                    host_samples.append(HostSample(host_id=pk, metric=CPU, time=now, value=cpu))
                maxmem, used = row.get("maxmem"), row.get("mem")
                if isinstance(maxmem, int) and isinstance(used, int) and 0 <= used <= maxmem:
                    host_samples.append(HostSample(host_id=pk, metric=MEM, time=now, value=float(maxmem - used)))
            elif row.get("type") == "qemu" and row.get("status") == "running" and str(row.get("vmid")) in guests:
                cpu = _percent(row.get("cpu"))
                if cpu is not None:
                    guest_samples.append(GuestSample(guest_id=guests[str(row["vmid"])], time=now, cpu=cpu))
        from automigrate.services import storage

        storage.write_samples(HostSample, ("host", "metric", "time", "value"),
                              [(s.host_id, s.metric, s.time, s.value) for s in host_samples])
        storage.write_samples(GuestSample, ("guest", "time", "cpu"),
                              [(s.guest_id, s.time, s.cpu) for s in guest_samples])
        return f"{len(host_samples)} host and {len(guest_samples)} guest samples from proxmox"
