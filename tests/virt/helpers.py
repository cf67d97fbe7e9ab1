"""Helpers of the real-libvirt tests: moves handed straight to execution, waiting, serial counters."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from automigrate.engine.model import CPU, Move
from automigrate.models import Migration
from automigrate.services import execution
from automigrate.services.rules import create_rule

TICK = re.compile(r"^tick (\d+)$", re.MULTILINE)


def rule(name="lab-rule", threshold=60, period="2m", **extra):
    return create_rule({"name": name, "metric": CPU, "threshold": threshold, "period": period, **extra})


def start_move(rule, guest: str, source: str, target: str):
    """Execute one planned move exactly as an evaluation in automatic mode would."""
    move = Move(guest=guest, source=source, target=target, score=50.0, target_score=25.0, source_before=80.0,
                source_after=30.0, target_before=5.0, target_after=30.0, reason="test move")
    return execution.start_batch(rule, [move])


def watch_until_done(migration_pk: int, seconds: float = 90) -> Migration:
    """Run the watcher (as beat would, every half second) until the migration has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        execution.watch_migrations()
        migration = Migration.objects.get(pk=migration_pk)
        if migration.state not in Migration.ACTIVE_STATES:
            return migration
        time.sleep(0.5)
    raise AssertionError(f"migration #{migration_pk} still {Migration.objects.get(pk=migration_pk).state}")


def virsh_list(uri: str) -> list[str]:
    """The running guests of a host, as `virsh list` shows them."""
    out = subprocess.run(["virsh", "-c", uri, "list", "--name"], capture_output=True, text=True, check=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def last_tick(serial_log: Path) -> int:
    ticks = TICK.findall(serial_log.read_text(errors="replace")) if serial_log.exists() else []
    return int(ticks[-1]) if ticks else -1


def wait_for_tick_after(serial_log: Path, tick: int, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = last_tick(serial_log)
        if now > tick:
            return now
        time.sleep(0.2)
    raise AssertionError(f"the guest's serial counter stopped at {last_tick(serial_log)} (waited for > {tick})")
