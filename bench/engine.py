"""Time and peak memory of engine.plan() on large random clusters.

    .venv/bin/python bench/engine.py [--seed 1] [--sizes 1000x20000,10000x200000] [--repeat 5]
    .venv/bin/python bench/engine.py --sizes 50000x1000000 --only uncapped-cpu --repeat 5   # issue 17's aim

Each cluster has 5 % of hosts over the CPU threshold (or under the memory
threshold). Timings exclude building the snapshot; peak memory is measured
in a second run under tracemalloc (which slows execution, so it is not timed).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automigrate.engine import CPU, MEM, GuestState, HostState, RuleSpec, Snapshot, Tuning, plan
from automigrate.engine.model import PlacementGroup

GIB = 1024**3
FIRING_FRACTION = 0.05
CPU_THRESHOLD = 80.0
MEM_THRESHOLD = 16 * GIB


def build_cluster(n_hosts: int, n_guests: int, seed: int) -> Snapshot:
    rnd = random.Random(seed)
    hot = set(rnd.sample(range(n_hosts), int(n_hosts * FIRING_FRACTION)))
    hosts = []
    for i in range(n_hosts):
        total = rnd.choice([256, 384, 512]) * GIB
        firing = i in hot
        hosts.append(
            HostState(
                name=f"host-{i:05d}",
                cpu_count=rnd.choice([32, 40, 64, 96]),
                mem_total=total,
                cpu=rnd.uniform(81, 99) if firing else rnd.uniform(5, 70),
                mem_available=rnd.uniform(2, 15) * GIB if firing else rnd.uniform(0.2, 0.8) * total,
                host_type="kvm",
                cpu_arch=rnd.choice(["x86_64"] * 9 + ["aarch64"]),
            )
        )
    guests = []
    for j in range(n_guests):
        guests.append(
            GuestState(
                name=f"vm-{j:06d}",
                host=hosts[rnd.randrange(n_hosts)].name,
                vcpu_count=rnd.choice([1, 2, 4, 8, 16]),
                vmem_size=rnd.choice([1024, 2048, 4096, 8192, 16384]),
                cpu=rnd.uniform(0, 100),
                labels=frozenset({"pinned"}) if rnd.random() < 0.02 else frozenset(),
                minutes_since_migration=rnd.uniform(0, 600) if rnd.random() < 0.1 else None,
            )
        )
    return Snapshot(tuple(hosts), tuple(guests))


def random_groups(snapshot: Snapshot, count: int) -> tuple[PlacementGroup, ...]:
    """``count`` must groups over distinct random guests: anti-affinity triples and affinity pairs."""
    rnd = random.Random(f"groups:{count}")
    names = [g.name for g in snapshot.guests]
    rnd.shuffle(names)
    groups, pos = [], 0
    for i in range(count):
        size, kind = (3, "anti-affinity") if i % 2 == 0 else (2, "affinity")
        groups.append(PlacementGroup(f"grp-{i}", kind, "must", frozenset(names[pos:pos + size])))
        pos += size
    return tuple(groups)


def measure(
    snapshot: Snapshot, rule: RuleSpec, policy: str, tuning: Tuning, repeat: int = 1
) -> tuple[float, float, object]:
    times = []
    for _ in range(repeat):
        # A full collection of the snapshot just built (2 M objects at 1 M guests) is the
        # builder's debt, not the plan's: without this, whichever plan() runs first pays
        # seconds for it and the figures depend on the order of the variants.
        gc.collect()
        start = time.perf_counter()
        result = plan(snapshot, rule, policy, tuning)
        times.append(time.perf_counter() - start)
    elapsed = statistics.median(times)
    tracemalloc.start()
    plan(snapshot, rule, policy, tuning)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 1024**2, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default="1000x20000,10000x200000")
    parser.add_argument("--groups", type=int, default=0,
                        help="also time with this many must groups (half anti-affinity triples, half affinity pairs)")
    parser.add_argument("--repeat", type=int, default=1, help="time each plan this many times; the median is printed")
    parser.add_argument("--only", choices=("all", "uncapped-cpu"), default="all",
                        help="uncapped-cpu: only the no-caps CPU plan (issue 17's aim at 50,000 hosts)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: must be at least 1")
    uncapped = Tuning(max_moves_per_host=10**6, max_moves_per_run=10**9)
    variants = [
        ("automigrate", Tuning(), "default caps"),
        ("automigrate", uncapped, "no caps"),
        ("classic", Tuning(), ""),
    ]
    print(
        f"{'hosts':>6} {'guests':>7} {'metric':<17} {'policy':<12} {'tuning':<26}"
        f" {'firing':>6} {'moves':>6} {'fails':>6} {'time s':>7} {'peak MiB':>8}"
    )
    for size in args.sizes.split(","):
        n_hosts, n_guests = (int(x) for x in size.split("x"))
        plain = build_cluster(n_hosts, n_guests, args.seed)
        snapshots = [("", plain)]
        if args.groups:
            snapshots.append((f"+{args.groups} groups", replace(plain, groups=random_groups(plain, args.groups))))
        for (extra, snapshot), (metric, threshold) in (
            (s, m) for s in snapshots for m in ((CPU, CPU_THRESHOLD), (MEM, MEM_THRESHOLD))
        ):
            rule = RuleSpec(name="bench", metric=metric, threshold=threshold)
            for policy, tuning, caps in variants:
                if args.only == "uncapped-cpu" and (metric != CPU or tuning is not uncapped):
                    continue
                label = f"{caps} {extra}".strip()
                elapsed, peak, result = measure(snapshot, replace(rule), policy, tuning, args.repeat)
                print(
                    f"{n_hosts:>6} {n_guests:>7} {metric:<17} {policy:<12} {label:<26}"
                    f" {len(result.triggered):>6} {len(result.moves):>6} {len(result.failures):>6}"
                    f" {elapsed:>7.3f} {peak:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
