"""A known day of samples pushed through /write, and a migration in the middle of it.

Three 8-core hosts; at the end of the day (``END``, aligned on 5 minutes):

- h1: vm-hot (4 vCPUs, 100 % from hour 6 to hour 10, else 10 %), vm-a (4 vCPUs, 20 %);
- h2: vm-b (4 vCPUs, 20 %) and vm-moved (2 vCPUs, 50 %), which came from h1 at hour 12
  (a successful Migration record); a failed attempt h3 -> h2 at hour 3 moved nothing;
- h3: vm-c (4 vCPUs, 5 %, silent for 20 minutes at hour 16).

With vm-moved back on h1 (the placement at the start) and nothing moving, h1 is
(4 + 0.8 + 1) / 8 = 72.5 % during hours 6-10 and 27.5 % otherwise; without vm-moved it would
be exactly 60 %, not above the threshold. So "none" has 240 overload host-minutes only if
the placement was walked back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from automigrate.engine.model import CPU
from automigrate.models import Migration
from automigrate.services.rules import create_rule

STEP = 300
DAY = 86400
SAMPLE_EVERY = 60
# The day ends at a whole 5 minutes at least 10 minutes ago: inside what /write accepts.
END = datetime.fromtimestamp((int(time.time()) // STEP - 2) * STEP, tz=UTC)
START = END - timedelta(seconds=DAY)
HOT_FROM, HOT_TO = 6 * 3600, 10 * 3600
MOVED_AT = 12 * 3600
GAP_FROM, GAP_TO = 16 * 3600, 16 * 3600 + 1200
# Within each 5-minute step the samples wander around their level; their mean is the level.
WOBBLE = (-2.0, 2.0, 0.0, -1.0, 1.0)


def level(guest: str, offset: int) -> float | None:
    """vm's CPU % at ``offset`` seconds into the day (None: no sample)."""
    if guest == "vm-hot":
        return 100.0 if HOT_FROM <= offset < HOT_TO else 10.0
    if guest == "vm-c" and GAP_FROM <= offset < GAP_TO:
        return None
    return {"vm-a": 20.0, "vm-b": 20.0, "vm-moved": 50.0, "vm-c": 5.0}[guest]


def sample(guest: str, offset: int) -> float | None:
    value = level(guest, offset)
    if value is None or value == 100.0:
        return value
    return value + WOBBLE[(offset % STEP) // SAMPLE_EVERY]


def day_lines() -> list[str]:
    lines = []
    for offset in range(0, DAY, SAMPLE_EVERY):
        stamp = int((START + timedelta(seconds=offset)).timestamp()) * 10**9
        for guest in ("vm-hot", "vm-a", "vm-b", "vm-moved", "vm-c"):
            value = sample(guest, offset)
            if value is not None:
                lines.append(f"vm_cpu,vm_id={guest} usage_active={value} {stamp}")
        if offset % 3600 == 0:  # host samples too, as telegraf sends them (the replay sums guests instead)
            lines += [f"cpu,cpu=cpu-total,host={host} usage_active=30 {stamp}" for host in ("h1", "h2", "h3")]
    return lines


@pytest.fixture(autouse=True)
def backtest_settings(settings):
    # SQLite keeps 12 h of samples by default; /write refuses older ones. The day needs 1+.
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "SAMPLE_RETENTION_DAYS": 3, "METRIC_SOURCE": "database",
                            "SIM_FAILURE_PROBABILITY": 0.0}
    return settings


@pytest.fixture
def known_day(operator, make_host, make_guest):
    """The cluster above, its day of samples written through POST /write, and the migration records."""
    h1, h2, h3 = (make_host(name, cpu_count=8, mem_total=64 * 1024**3) for name in ("h1", "h2", "h3"))
    make_guest("vm-hot", h1, vcpu_count=4, vmem_size=4096)
    make_guest("vm-a", h1, vcpu_count=4, vmem_size=4096)
    make_guest("vm-b", h2, vcpu_count=4, vmem_size=4096)
    moved = make_guest("vm-moved", h2, vcpu_count=2, vmem_size=2048)
    make_guest("vm-c", h3, vcpu_count=4, vmem_size=4096)
    token = Token.objects.create(user=operator).key
    client = Client()  # its own: the test's client may be logged in as someone else
    lines = day_lines()
    for first in range(0, len(lines), 5000):
        response = client.generic(
            "POST", "/write?db=telegraf", "\n".join(lines[first:first + 5000]),
            content_type="text/plain; charset=utf-8", HTTP_AUTHORIZATION=f"Token {token}",
        )
        assert response.status_code == 204, response.content
    moved_at = START + timedelta(seconds=MOVED_AT)
    Migration.objects.create(guest=moved, source=h1, target=h2, state=Migration.State.SUCCEEDED,
                             requested_at=moved_at - timedelta(minutes=1), started_at=moved_at - timedelta(minutes=1),
                             finished_at=moved_at)
    failed_at = START + timedelta(hours=3)
    Migration.objects.create(guest=moved, source=h3, target=h2, state=Migration.State.FAILED,
                             requested_at=failed_at, started_at=failed_at, finished_at=failed_at)
    return {"hosts": (h1, h2, h3), "moved": moved}


@pytest.fixture
def cpu_rule(known_day):
    return create_rule({"name": "day-cpu", "metric": CPU, "threshold": 60, "period": "10m"})
