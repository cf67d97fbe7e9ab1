"""Issue 14's aims, measured: `manage.py simulate` on every shared trace, every policy, seeds 0-5.

    .venv/bin/python bench/aims.py [--jobs 2] [--write]      # `make aims` = --write
    .venv/bin/python bench/aims.py --tune PARTIAL_RELIEF_FRACTION=0.3 --policies automigrate

Runs the simulate command in-process (``call_command``, the same code path as
the CLI, settings from the environment) on Bitbrains, PlanetLab 2011-03-03 and
the three packed PlanetLab days, threshold 60, period 10m, for none, classic,
automigrate, mmt, sandpiper, oracle (and ``automigrate --forecast`` when the
simulate command has that option). "Today's automigrate" (commit 650f689)
cannot be rebuilt by CI, so its figures come from bench/aims_ref_650f689.json
(how it was produced: that file's "how" field).

``--write`` replaces the "Issue 14 aims (bench/aims.py)" section of
BENCHMARKS.md with the tables; without it the section is printed only.
``--tune KEY=VALUE`` sets ``AUTOMIGRATE_KEY`` for the runs (to measure an idea
before making it a default); the summary line at the end is what the
"ideas measured" table of BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACES_DIR = ROOT.parent / "shared" / "data" / "traces"
if not TRACES_DIR.exists():
    TRACES_DIR = Path("/work/shared/data/traces")
TRACES = {
    "bitbrains-rnd-20130821": "bitbrains-rnd-20130821",
    "planetlab-20110303": "planetlab-20110303",
    "planetlab-20110322": "planetlab-more/planetlab-20110322.tsv.gz",
    "planetlab-20110403": "planetlab-more/planetlab-20110403.tsv.gz",
    "planetlab-20110420": "planetlab-more/planetlab-20110420.tsv.gz",
}
SEEDS = range(6)
THRESHOLD, PERIOD = "60", "10m"
POLICIES = ("none", "classic", "automigrate", "mmt", "sandpiper", "oracle")
FORECAST = "automigrate --forecast"
REFERENCE = ROOT / "bench" / "aims_ref_650f689.json"
HEADING = "## Issue 14 aims (bench/aims.py)"
OURS = "automigrate"


def _setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automigrate.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _simulate(job: tuple[str, str, int]) -> tuple[tuple[str, str, int], dict]:
    from django.core.management import call_command

    trace, policy, seed = job
    name, *flags = policy.split()
    out = io.StringIO()
    call_command("simulate", "--trace", str(TRACES_DIR / TRACES[trace]), "--policy", name, *flags,
                 "--seed", str(seed), "--threshold", THRESHOLD, "--period", PERIOD, "--json", stdout=out)
    return job, json.loads(out.getvalue())


def has_forecast() -> bool:
    from automigrate.management.commands.simulate import Command

    return "--forecast" in Command().create_parser("manage.py", "simulate").format_help()


def run_all(policies: list[str], jobs: int, env: dict[str, str]) -> dict[tuple[str, str, int], dict]:
    work = [(t, p, s) for t in TRACES for p in policies for s in SEEDS]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_setup, initargs=(env,)) as pool:
        return dict(pool.map(_simulate, work, chunksize=4))


# --- the aims ----------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def aims_tables(res: dict, ref: dict, policies: list[str], ours: str = OURS) -> list[str]:
    def r(trace, policy, seed):
        return res[(trace, policy, seed)]

    out: list[str] = []
    oracle = "oracle" in policies

    def oracle_cell(trace, seed, field):
        return f" {r(trace, 'oracle', seed)[field]:g} |" if oracle else ""

    orc_head = " oracle |" if oracle else ""
    orc_rule = "---|" if oracle else ""

    # Aim 1: <= MMT's overload, <= 1/4 of its migrations, fewer GiB.
    out += [f"**Aim 1: overload ≤ MMT's on every trace and seed, with ≤ ¼ of MMT's migrations and fewer GiB** "
            f"(policy `{ours}`). Worst seed = the seed with the largest overload ratio to MMT's.", "",
            "| trace | seeds met | worst seed | overload (MMT) | migrations (¼ MMT) | GiB (MMT) |"
            f"{orc_head} aim |",
            f"|---|---|---|---|---|---|{orc_rule}---|"]
    total = 0
    for trace in TRACES:
        rows = []
        for seed in SEEDS:
            a, m = r(trace, ours, seed), r(trace, "mmt", seed)
            ok = (a["overload_host_minutes"] <= m["overload_host_minutes"]
                  and a["migrations"] <= m["migrations"] / 4 and a["migrated_gib"] < m["migrated_gib"])
            ratio = a["overload_host_minutes"] / max(m["overload_host_minutes"], 1e-9)
            rows.append((not ok, ratio, seed, ok))
        met = sum(row[3] for row in rows)
        total += met
        _, _, seed, ok = max(rows)
        a, m = r(trace, ours, seed), r(trace, "mmt", seed)
        out.append(
            f"| {trace} | {met}/6 | {seed} | {a['overload_host_minutes']:g} ({m['overload_host_minutes']:g}) |"
            f" {a['migrations']} ({m['migrations'] / 4:g}) | {a['migrated_gib']:g} ({m['migrated_gib']:g}) |"
            f"{oracle_cell(trace, seed, 'overload_host_minutes')} {_met(met == 6)} |")
    out += ["", f"Aim 1 over all runs: {total}/30 met." + (" Oracle column: its overload host-minutes." if oracle
                                                           else ""), ""]

    # Aim 2: against today's automigrate (650f689).
    out += ["**Aim 2: PlanetLab days overload ≤ 0.7 × 650f689's at no more GiB; Bitbrains no worse at no more GiB**",
            "", "| trace | seeds met | worst seed | overload (limit) | 650f689 overload | GiB (650f689) |"
            f"{orc_head} aim |",
            f"|---|---|---|---|---|---|{orc_rule}---|"]
    total = 0
    for trace in TRACES:
        factor = 1.0 if trace.startswith("bitbrains") else 0.7
        rows = []
        for seed in SEEDS:
            a, old = r(trace, ours, seed), ref[f"{trace}/{seed}"]
            limit = factor * old["overload_host_minutes"]
            ok = a["overload_host_minutes"] <= limit and a["migrated_gib"] <= old["migrated_gib"]
            rows.append((not ok, a["overload_host_minutes"] / max(limit, 1e-9), seed, ok))
        met = sum(row[3] for row in rows)
        total += met
        _, _, seed, ok = max(rows)
        a, old = r(trace, ours, seed), ref[f"{trace}/{seed}"]
        out.append(
            f"| {trace} | {met}/6 | {seed} | {a['overload_host_minutes']:g} ({factor * old['overload_host_minutes']:g})"
            f" | {old['overload_host_minutes']:g} | {a['migrated_gib']:g} ({old['migrated_gib']:g}) |"
            f"{oracle_cell(trace, seed, 'overload_host_minutes')} {_met(met == 6)} |")
    out += ["", f"Aim 2 over all runs: {total}/30 met.", ""]

    # Aim 3: GiB off hosts their plan leaves above the threshold <= 10 %.
    out += ["**Aim 3: GiB copied off hosts their own plan leaves above the threshold ≤ 10 % of all GiB copied**", "",
            "| trace | seeds met | worst seed | GiB off unrelieved | all GiB | share |"
            f"{' oracle share |' if oracle else ''} aim |", f"|---|---|---|---|---|---|{orc_rule}---|"]
    total = 0
    for trace in TRACES:
        rows = []
        for seed in SEEDS:
            a = r(trace, ours, seed)
            share = a["gib_off_unrelieved"] / a["migrated_gib"] if a["migrated_gib"] else 0.0
            rows.append((share > 0.10, share, seed, share <= 0.10))
        met = sum(row[3] for row in rows)
        total += met
        _, share, seed, _ = max(rows)
        a = r(trace, ours, seed)
        orc = ""
        if oracle:
            o = r(trace, "oracle", seed)
            orc = f" {100 * o['gib_off_unrelieved'] / o['migrated_gib'] if o['migrated_gib'] else 0:.1f} % |"
        out.append(f"| {trace} | {met}/6 | {seed} | {a['gib_off_unrelieved']:g} | {a['migrated_gib']:g} |"
                   f" {100 * share:.1f} % |{orc} {_met(met == 6)} |")
    out += ["", f"Aim 3 over all runs: {total}/30 met.", ""]

    # Aim 4: zero ping-pongs.
    pings = {p: sum(r(t, p, s)["ping_pongs"] for t in TRACES for s in SEEDS) for p in policies}
    out += ["**Aim 4: zero ping-pongs** (sum over all traces and seeds): "
            + ", ".join(f"{p} {n}" for p, n in pings.items())
            + f" — {_met(pings[ours] == 0)} for {ours}.", ""]
    return out


def totals_table(res: dict, ref: dict, policies: list[str]) -> list[str]:
    out = ["**Every policy, summed over the six seeds** (overload host-minutes / migrations / GiB copied):", "",
           "| trace | " + " | ".join(policies) + " | 650f689 |", "|---|" + "---|" * (len(policies) + 1)]
    for trace in TRACES:
        cells = []
        for p in policies:
            rows = [res[(trace, p, s)] for s in SEEDS]
            cells.append(f"{sum(x['overload_host_minutes'] for x in rows):g} / {sum(x['migrations'] for x in rows)}"
                         f" / {sum(x['migrated_gib'] for x in rows):.0f}")
        old = [ref[f"{trace}/{s}"] for s in SEEDS]
        cells.append(f"{sum(x['overload_host_minutes'] for x in old):g} / {sum(x['migrations'] for x in old)}"
                     f" / {sum(x['migrated_gib'] for x in old):.0f}")
        out.append(f"| {trace} | " + " | ".join(cells) + " |")
    return [*out, ""]


def summary_line(res: dict, ref: dict, policy: str = OURS) -> str:
    """One line to compare ideas: overload and GiB vs 650f689 per family, and the aims' counts."""
    parts = []
    for family, prefix in (("PlanetLab", "planetlab"), ("Bitbrains", "bitbrains")):
        traces = [t for t in TRACES if t.startswith(prefix)]
        over = sum(res[(t, policy, s)]["overload_host_minutes"] for t in traces for s in SEEDS)
        old = sum(ref[f"{t}/{s}"]["overload_host_minutes"] for t in traces for s in SEEDS)
        gib = sum(res[(t, policy, s)]["migrated_gib"] for t in traces for s in SEEDS)
        old_gib = sum(ref[f"{t}/{s}"]["migrated_gib"] for t in traces for s in SEEDS)
        parts.append(f"{family} overload {over:g} = {over / old:.2f} × 650f689, GiB {gib:.0f} = {gib / old_gib:.2f} ×")
    off = sum(res[(t, policy, s)]["gib_off_unrelieved"] for t in TRACES for s in SEEDS)
    gib = sum(res[(t, policy, s)]["migrated_gib"] for t in TRACES for s in SEEDS)
    pings = sum(res[(t, policy, s)]["ping_pongs"] for t in TRACES for s in SEEDS)
    aim2 = 0
    for t in TRACES:
        factor = 1.0 if t.startswith("bitbrains") else 0.7
        for s in SEEDS:
            a, o = res[(t, policy, s)], ref[f"{t}/{s}"]
            aim2 += a["overload_host_minutes"] <= factor * o["overload_host_minutes"] and \
                a["migrated_gib"] <= o["migrated_gib"]
    return "; ".join(parts) + f"; GiB off unrelieved {100 * off / max(gib, 1e-9):.1f} %; aim 2 {aim2}/30;" \
        f" ping-pongs {pings}"


def write_section(lines: list[str]) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    section = HEADING + "\n\n" + "\n".join(lines).rstrip() + "\n"
    start = text.find(HEADING)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel replays (the machine has 2 cores)")
    parser.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    parser.add_argument("--tune", action="append", default=[], metavar="KEY=VALUE",
                        help="set AUTOMIGRATE_KEY for the runs (repeatable)")
    parser.add_argument("--policies", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--save", default=None, help="also write the raw results to this JSON file")
    parser.add_argument("--load", action="append", default=[], metavar="FILE",
                        help="reuse results saved by --save instead of running those (trace, policy, seed); repeatable,"
                             " later files win")
    args = parser.parse_args()
    env = {}
    for item in args.tune:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--tune {item!r}: expected KEY=VALUE")
        env[f"AUTOMIGRATE_{key.upper()}"] = value
    _setup(env)
    policies = list(POLICIES) + ([FORECAST] if has_forecast() else [])
    if args.policies:
        policies = [p.strip() for p in args.policies.split(",")]
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))["runs"]
    loaded: dict[tuple[str, str, int], dict] = {}
    for name in args.load:
        for key, value in json.loads(Path(name).read_text(encoding="utf-8")).items():
            trace, policy, seed = key.rsplit("/", 2)
            loaded[(trace, policy, int(seed))] = value
    missing = [p for p in policies if any((t, p, s) not in loaded for t in TRACES for s in SEEDS)]
    res = {k: v for k, v in loaded.items() if k[1] in policies}
    if missing:
        res.update(run_all(missing, args.jobs, env))
    if args.save:
        Path(args.save).write_text(json.dumps({f"{t}/{p}/{s}": v for (t, p, s), v in res.items()}, indent=1))
    line = summary_line(res, ref)
    if set(POLICIES) <= set(policies):
        lines = [
            "Produced by `make aims` (bench/aims.py): `manage.py simulate` on every shared trace, seeds 0-5,"
            " threshold 60, period 10m, settings defaults" + (f" with {' '.join(args.tune)}" if args.tune else "")
            + ". 650f689 figures from bench/aims_ref_650f689.json. Met/missed counts every seed; the row shows the"
            " worst seed; `oracle` is automigrate planning on the next window's true means (it sees the future).",
            "", *aims_tables(res, ref, policies)]
        if FORECAST in policies:
            lines += [f"With `{FORECAST}`:", "", *aims_tables(res, ref, policies, ours=FORECAST)]
        lines += [*totals_table(res, ref, policies), f"Summary ({OURS}): {line}", ""]
        print("\n".join(lines))
        if args.write:
            write_section(lines)
    print(f"summary {' '.join(args.tune) or 'defaults'}: {line}")


if __name__ == "__main__":
    main()
