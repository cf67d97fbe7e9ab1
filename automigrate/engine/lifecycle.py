"""Timing and admission rules of a migration's life, shared by every caller.

The live evaluator (which executes plans) and the offline trace replayer
(which simulates them) must agree on how long a migration takes, when it has
timed out, when a rule may fire again and how many migrations may run at
once. Those rules live here, once, as pure functions of plain values, so the
two can never drift apart. Times are epoch seconds (floats); memory sizes are
MB (MiB) as in the reference's ``vmem_size``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

# A live migration copies the guest's RAM at least once, and even a tiny guest
# pays fixed costs (pre-copy setup, final stop-and-copy, switch-over), so no
# migration is modelled as quicker than this.
MIN_MIGRATION_SECONDS = 5.0


class _HasEndpoints(Protocol):
    source: str
    target: str


M = TypeVar("M", bound=_HasEndpoints)


def migration_seconds(
    vmem_size_mb: float,
    bandwidth_mb_per_s: float,
    min_seconds: float = MIN_MIGRATION_SECONDS,
) -> float:
    """Expected duration of a live migration of a guest of ``vmem_size_mb``.

    Live migration time is dominated by copying the guest's memory over the
    migration network, so it is proportional to memory size divided by
    bandwidth; the floor accounts for the fixed setup and switch-over cost
    that even an almost empty guest pays.
    """
    if bandwidth_mb_per_s <= 0:
        raise ValueError("bandwidth_mb_per_s must be positive")
    return max(float(min_seconds), max(vmem_size_mb, 0) / bandwidth_mb_per_s)


def migration_timeout_seconds(
    vmem_size_mb: float,
    base_seconds: float = 120.0,
    seconds_per_gib: float = 60.0,
) -> float:
    """How long to wait for a migration before declaring it failed.

    The reference's watcher had no timeout, so one stuck migration held the
    global lock forever. A fixed timeout would either kill big guests that
    are still copying or wait far too long for small ones, so the budget
    grows with memory: a base for fixed costs plus a per-GiB allowance.
    """
    return base_seconds + seconds_per_gib * max(vmem_size_mb, 0) / 1024.0


def is_settling(last_batch_finished_at: float | None, now: float, period_seconds: float) -> bool:
    """True while a rule must wait after its last batch before firing again.

    The trigger is a mean over the rule's window. Right after a batch, that
    window still holds pre-migration samples, so the host would look hot and
    fire again on load it no longer carries (the reference's cascade). Waiting
    one full window means the next decision sees only post-migration data.
    """
    if last_batch_finished_at is None:
        return False
    return now - last_batch_finished_at < period_seconds


SETTLE_CHECK_DELAY_SECONDS = 1.0


def settle_check_at(batch_finished_at: float, period_seconds: float) -> float:
    """When a rule is checked again after its batch: just after its settle window ends.

    The regular checks keep their own phase, so the first one after the
    window could come almost a whole period late; one extra check here acts
    on post-migration data as soon as there is a full window of it.
    """
    return batch_finished_at + period_seconds + SETTLE_CHECK_DELAY_SECONDS


def in_cooldown(minutes_since_migration: float | None, cooldown_minutes: float) -> bool:
    """True if a guest migrated too recently to be moved again.

    Moving the same guest again and again costs a memory copy each time and
    is the signature of oscillation; a guest that just moved is given time to
    show its load on its new host first. ``None`` means never migrated.
    """
    if minutes_since_migration is None:
        return False
    return minutes_since_migration < cooldown_minutes


def is_bounce_back(guest: object, target: str, cooldown_minutes: float) -> bool:
    """True if moving ``guest`` to ``target`` would send it back where it came from.

    Ping-pong (A→B then B→A) is what users of every peer rebalancer complain
    about most. Within the cooldown, the host a guest just left is never a
    valid target for it. ``guest`` needs ``last_migrated_from`` and
    ``minutes_since_migration`` (a GuestState or anything shaped like it).
    """
    left = getattr(guest, "last_migrated_from", None)
    if left is None or left != target:
        return False
    return in_cooldown(getattr(guest, "minutes_since_migration", None), cooldown_minutes)


def admit_within_caps(
    moves: Iterable[M],
    in_flight_total: int,
    in_flight_by_host: Mapping[str, int],
    max_in_flight: int,
    max_in_flight_per_host: int,
) -> tuple[list[M], list[M]]:
    """Split ``moves`` (in priority order) into those that may start now and those deferred.

    Migration storms saturate the network and the hosts involved, so both the
    whole system and each host have a cap on concurrent migrations. A
    migration loads its source (sending) and its target (receiving), so it
    counts against both. A move that does not fit is deferred but does not
    block later moves on other hosts; order is kept in both lists. The inputs
    are not modified.
    """
    per_host = dict(in_flight_by_host)
    total = in_flight_total
    admitted: list[M] = []
    deferred: list[M] = []
    for move in moves:
        ends = _endpoints(move)
        fits = total < max_in_flight and all(per_host.get(h, 0) < max_in_flight_per_host for h in ends)
        if not fits:
            deferred.append(move)
            continue
        admitted.append(move)
        total += 1
        for h in ends:
            per_host[h] = per_host.get(h, 0) + 1
    return admitted, deferred


def _endpoints(move: _HasEndpoints) -> Sequence[str]:
    # A (degenerate) move to its own host must count once, not twice.
    if move.source == move.target:
        return (move.source,)
    return (move.source, move.target)
