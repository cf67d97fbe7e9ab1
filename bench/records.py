"""Cost of the decision as records: plan() time and failure-note size on a cluster where nothing fits.

    .venv/bin/python bench/records.py [--hosts 10000] [--firing 500] [--rounds 5]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/records.py   # the same on another version

Every firing host holds one guest too big for any target, so each plan has one
failure per firing host, each listing the 10 most preferred targets: the worst
case for building rejections and rendering notes. Prints the median plan()
time and the JSON size of one failure as the evaluator stores it (text only
before the records; text + records after).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

# PYTHONPATH (another checkout) wins; else this one.
sys.path.insert(0 if "PYTHONPATH" not in os.environ else len(sys.path), str(Path(__file__).resolve().parent.parent))

from automigrate.engine import CPU, GuestState, HostState, RuleSpec, Snapshot, plan

GIB = 1024**3


def build(n_hosts: int, n_firing: int, seed: int) -> Snapshot:
    rnd = random.Random(seed)
    hosts, guests = [], []
    for i in range(n_hosts):
        firing = i < n_firing
        hosts.append(HostState(name=f"h{i:05d}", cpu_count=40, mem_total=256 * GIB,
                               cpu=rnd.uniform(85, 99) if firing else rnd.uniform(40, 58),
                               mem_available=rnd.uniform(60, 200) * GIB))
        if firing:
            # 40 vCPUs at 100 % = 100 % of any 40-core target: fits nowhere.
            guests.append(GuestState(name=f"big-{i:05d}", host=f"h{i:05d}", vcpu_count=40, vmem_size=65536,
                                     cpu=100.0))
    return Snapshot(tuple(hosts), tuple(guests))


def stored_notes(failure) -> dict:
    """The find_result_fail event notes as services.evaluate writes them (the text and, if any, the records)."""
    notes = {"host": failure.host, "guest": failure.guest, "notes": failure.notes}
    if hasattr(failure, "records"):
        notes.update(failure.records())
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--firing", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    snapshot = build(args.hosts, args.firing, 1)
    rule = RuleSpec(name="r", metric=CPU, threshold=60.0)
    times, cpu, result = [], [], None
    for _ in range(args.rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = plan(snapshot, rule)
        times.append(time.perf_counter() - start)
        # CPU time too: on a shared machine the wall clock mostly measures the neighbours.
        cpu.append(time.process_time() - start_cpu)
    guest_failures = [f for f in result.failures if f.guest]
    sizes = [len(json.dumps(stored_notes(f), separators=(",", ":"))) for f in guest_failures]
    plan_json = len(json.dumps(result.to_dict()))
    print("| hosts | firing | guest failures | plan() median s | median CPU s | notes JSON bytes per failure"
          " | to_dict bytes |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.hosts:,} | {args.firing} | {len(guest_failures)} | {statistics.median(times):.3f} |"
          f" {statistics.median(cpu):.3f} | {statistics.median(sizes):,.0f} | {plan_json:,} |")
    if guest_failures and hasattr(guest_failures[0], "rejections"):
        first = guest_failures[0].rejections
        print(f"rejections per failure: {len(first)}; first: {asdict(first[0])}")


if __name__ == "__main__":
    main()
