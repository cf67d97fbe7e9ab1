"""Replays with and without forecasts on every shared trace: overload host-minutes, migrations, GiB.

    .venv/bin/python bench/forecast.py [--seeds 0,1,2] [--threshold 60] [--markdown]
    .venv/bin/python bench/forecast.py --grid 'forecast_z=0,0.5,1' --grid 'forecast_target_z=0,1'

The three ``planetlab-more`` days are packed (one line per VM); they are unpacked once into
CloudSim's folder layout under ``var/traces/`` so ``manage.py simulate --trace`` reads them
like the shared PlanetLab day. Each row is ``simulate --period 10m`` in-process with the
tuning of settings (``--grid`` overrides Tuning fields or forecast constants, to tune).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = Path(os.environ.get("TRACES_DIR", ROOT.parent / "shared" / "data" / "traces"))
UNPACKED = ROOT / "var" / "traces"


def trace_paths() -> list[Path]:
    paths = [TRACES / "bitbrains-rnd-20130821", TRACES / "planetlab-20110303"]
    for packed in sorted((TRACES / "planetlab-more").glob("planetlab-*.tsv.gz")):
        folder = UNPACKED / packed.name.removesuffix(".tsv.gz")
        if not folder.is_dir():
            tmp = folder.with_suffix(".tmp")
            tmp.mkdir(parents=True, exist_ok=True)
            with gzip.open(packed, "rt", encoding="utf-8") as lines:
                for line in lines:
                    name, _, values = line.rstrip("\n").partition("\t")
                    (tmp / name).write_text("\n".join(values.split()) + "\n", encoding="utf-8")
            tmp.rename(folder)
        paths.append(folder)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threshold", type=float, default=60.0)
    parser.add_argument("--grid", action="append", default=[], help="NAME=v1,v2 (Tuning field or forecast.CONST)")
    parser.add_argument("--traces", default="", help="comma-separated name fragments to keep")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automigrate.settings")
    import django

    django.setup()
    from automigrate.engine import forecast as forecast_module
    from automigrate.services.snapshot import tuning_from_settings
    from automigrate.simulator.replay import ReplayConfig, replay
    from automigrate.simulator.traces import build_cluster, read_trace

    grid = []
    for item in args.grid:
        name, _, values = item.partition("=")
        grid.append([(name, v if name == "forecast_source" else float(v)) for v in values.split(",")])
    combos = [(), *list(itertools.product(*grid))] if grid else [(), (("forecast", 1),)]
    seeds = [int(s) for s in args.seeds.split(",")]
    paths = [p for p in trace_paths() if not args.traces or any(f in p.name for f in args.traces.split(","))]
    base = tuning_from_settings()
    totals: dict[tuple, list[float]] = {}
    if args.markdown:
        print("| trace | seed | forecast | overload host-min | migrations | GiB copied | ping-pongs |")
        print("|---|---|---|---|---|---|---|")
    for path in paths:
        for seed in seeds:
            trace = build_cluster(read_trace(path, seed=seed), seed=seed)
            for combo in combos:
                tuning, constants, use = base, {}, bool(combo)
                for name, value in combo:
                    if name == "forecast":
                        continue
                    if hasattr(tuning, name):
                        kind = type(getattr(tuning, name))
                        tuning = replace(tuning, **{name: kind(value)})
                    else:
                        constants[name] = value
                hist = int(constants.pop("HISTORY_WINDOWS", 6))
                guests = bool(constants.pop("GUESTS", 0))
                saved = {n: getattr(forecast_module, n) for n in constants}
                for n, v in constants.items():
                    setattr(forecast_module, n, type(saved[n])(v))
                try:
                    config = ReplayConfig(threshold=args.threshold, period_seconds=600, seed=seed, tuning=tuning,
                                          forecast=use, forecast_history_windows=hist, forecast_guests=guests)
                    r = replay(trace, config)
                finally:
                    for n, v in saved.items():
                        setattr(forecast_module, n, v)
                label = ",".join(f"{n}={v}" for n, v in combo) or "off"
                label = "on" if label == "forecast=1" else label
                row = totals.setdefault((path.name, label), [0, 0, 0, 0])
                for i, v in enumerate((r.overload_host_minutes, r.migrations, r.migrated_gib, r.ping_pongs)):
                    row[i] += v
                if args.markdown:
                    print(f"| {path.name} | {seed} | {'on' if use else 'off'} | {r.overload_host_minutes:.0f} |"
                          f" {r.migrations} | {r.migrated_gib:.0f} | {r.ping_pongs} |")
                else:
                    print(f"{path.name:26} s{seed} {label:40} over {r.overload_host_minutes:7.0f}"
                          f"  mig {r.migrations:4}  GiB {r.migrated_gib:7.0f}  pp {r.ping_pongs}", flush=True)
    if args.markdown:
        print(f"\nSums over seeds {args.seeds}, change with forecasts against without:\n")
        print("| trace | forecasts | overload host-min | migrations | GiB copied | ping-pongs |")
        print("|---|---|---|---|---|---|")
        for path in paths:
            off = totals[(path.name, "off")]
            for (name, label), row in totals.items():
                if name != path.name:
                    continue
                pairs = zip(row, off, strict=True)
                cells = [f"{v:.0f}" if label == "off" else f"{v:.0f} ({_change(v, o)})" for v, o in pairs]
                print(f"| {name} | {label} | " + " | ".join(cells) + " |")
        return
    print("\nsums over seeds:")
    for (name, label), (over, mig, gib, pp) in totals.items():
        print(f"{name:26} {label:40} over {over:7.0f}  mig {mig:4.0f}  GiB {gib:7.0f}  pp {pp:.0f}")


def _change(value: float, base: float) -> str:
    if base == 0:
        return "±0" if value == 0 else "+"
    return f"{(value - base) / base:+.0%}".replace("+0%", "±0%").replace("-0%", "±0%")


if __name__ == "__main__":
    main()
