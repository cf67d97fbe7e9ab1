"""What placement groups cost on a real trace: overload host-minutes and migrations, with and without them.

    .venv/bin/python bench/groups.py [--trace /work/shared/data/traces/bitbrains-rnd-20130821] [--seed 0]

Groups are drawn at random (seeded) the way a cluster's admins would write
them: anti-affinity triples (database replicas), affinity pairs (an app and
its cache), and host-affinity groups of five guests licensed for a third of
the hosts, all ``must``. The replay first places the guests by the groups
(``repaired_at_start`` moves, not counted) and then runs the automigrate
policy with the settings' defaults, exactly like ``manage.py simulate
--groups``. The groups file used is written next to the output (``--write``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automigrate.engine.model import Tuning
from automigrate.simulator.replay import ReplayConfig, _Replay, replay
from automigrate.simulator.traces import build_cluster, parse_trace_groups, read_trace

DEFAULT_TRACE = Path("/work/shared/data/traces/bitbrains-rnd-20130821")


def draw_groups(trace, seed: int, anti: int = 10, pairs: int = 10, licensed: int = 3) -> list[dict]:
    rng = random.Random(f"groups:{seed}")
    names = sorted(g.name for g in trace.guests)
    rng.shuffle(names)
    hosts = sorted(h.name for h in trace.hosts)
    groups, pos = [], 0
    for i in range(anti):
        groups.append({"name": f"db-{i}", "kind": "anti-affinity", "strength": "must",
                       "guests": names[pos:pos + 3]})
        pos += 3
    for i in range(pairs):
        groups.append({"name": f"app-{i}", "kind": "affinity", "strength": "must", "guests": names[pos:pos + 2]})
        pos += 2
    for i in range(licensed):
        groups.append({"name": f"lic-{i}", "kind": "host-affinity", "strength": "must",
                       "guests": names[pos:pos + 5], "hosts": sorted(rng.sample(hosts, max(1, len(hosts) // 3)))})
        pos += 5
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=str(DEFAULT_TRACE))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=60.0)
    parser.add_argument("--write", default="", help="write the groups file here")
    parser.add_argument("--scale", type=int, default=1, help="multiply the number of groups (default 1: 23 groups)")
    args = parser.parse_args()
    trace = build_cluster(read_trace(args.trace, seed=args.seed), seed=args.seed)
    groups = draw_groups(trace, args.seed, anti=10 * args.scale, pairs=10 * args.scale, licensed=3 * args.scale)
    if args.write:
        Path(args.write).write_text(json.dumps({"groups": groups}, indent=1))
    parsed = parse_trace_groups(args.trace, groups, {h.name for h in trace.hosts}, {g.name for g in trace.guests})
    config = ReplayConfig(policy="automigrate", threshold=args.threshold, period_seconds=600, seed=args.seed,
                          tuning=Tuning())
    print(f"{'run':<22} {'overload h-min':>14} {'migrations':>10} {'GiB':>7} {'fail':>5} {'ping':>5}"
          f" {'start moves':>11} {'must viol':>9} {'time s':>7}")
    grouped = replace(trace, groups=parsed)
    # The same start as "with groups" (placed by the groups), then no groups: separates the
    # groups' cost during the replay from the effect of their different starting placement.
    start = _Replay(grouped, config)
    placed = replace(trace, guests=tuple(replace(g, host=trace.hosts[start.placement[i]].name)
                                         for i, g in enumerate(trace.guests)))
    runs = (("none (baseline)", None), ("without groups", trace), ("with groups", grouped),
            ("same start, none", placed), ("same start, no groups", placed))
    for label, t in runs:
        started = time.perf_counter()
        none = t is None or label == "same start, none"
        result = replay(t or trace, replace(config, policy="none") if none else config)
        elapsed = time.perf_counter() - started
        print(f"{label:<22} {result.overload_host_minutes:>14.1f} {result.migrations:>10} {result.migrated_gib:>7.1f}"
              f" {result.find_result_fail:>5} {result.ping_pongs:>5} {result.repaired_at_start:>11}"
              f" {result.must_violations_at_end:>9} {elapsed:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
