"""Read VM CPU traces into one replayable shape, and build a cluster for them.

Three formats, detected from the path:

- our JSON (a file): hosts, guests with their initial host and a CPU series;
- GWA-T-12 Bitbrains "Rnd" (a folder of ``N.csv`` files, ``;``-separated);
- PlanetLab/CoMon as shipped with CloudSim (a folder of one-integer-a-line files),
  or one day packed in a ``.tsv.gz`` (a line per VM file: its name, a TAB, its
  values separated by spaces; ``planetlab-more`` in the shared traces).

The real traces carry no hosts (and PlanetLab no VM sizes), so
``build_cluster`` makes homogeneous hosts and a seeded, memory-respecting
initial placement. Pure Python, no Django: the replayer and the benchmark use
this without a database.

Any malformed input raises ``TraceError`` naming the file and, where there is
one, the line, so the command can print one actionable line.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

from automigrate.engine.model import PlacementGroup
from automigrate.engine.scenario import ScenarioError, parse_groups

STEP_SECONDS_REAL_TRACES = 300  # both real traces sample every 5 minutes

# Files that sit next to the data in the shared trace folders but are not VMs.
_PROVENANCE_FILES = frozenset({"SOURCE.md", "SHA256SUMS", "MANIFEST.tsv", "README.md"})

BITBRAINS_FIELDS = 11
_BB_TIMESTAMP, _BB_CORES, _BB_CPU_PERCENT, _BB_MEM_KB = 0, 1, 4, 5

# Cluster defaults for traces without hosts.
DEFAULT_HOST_CORES = 32
TARGET_MEAN_CPU_PERCENT = 40.0
# Provision host memory so the day's guests fill about this much of it: room
# left for CPU-driven moves, as in a real cluster that is not memory-bound.
TARGET_MEM_FILL = 0.7
# Placement keeps this share of every host's memory free (the engine's default
# memory floor for CPU moves), so the starting state is one the engine accepts.
PLACEMENT_MEM_FLOOR = 0.10
HOST_MEM_ROUND_BYTES = 64 * 1024**3

# PlanetLab has no sizes: draw them from a small catalogue of common cloud
# flavours, seeded. Weights favour small VMs, as public clouds see.
PLANETLAB_VCPUS = (1, 2, 4, 8)
PLANETLAB_VCPU_WEIGHTS = (0.35, 0.30, 0.25, 0.10)
PLANETLAB_MB_PER_VCPU = (1024, 2048, 4096)
PLANETLAB_MB_PER_VCPU_WEIGHTS = (0.3, 0.5, 0.2)


class TraceError(Exception):
    """A trace that cannot be read; ``str()`` is one line naming file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path} line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class HostSpec:
    name: str
    cpu_count: int
    mem_total: int  # bytes


@dataclass(frozen=True)
class GuestTrace:
    name: str
    vcpu_count: int
    vmem_size: int  # MB
    cpu: tuple[float, ...]  # % of the guest's own vCPUs, one value per step
    host: str | None = None  # initial placement; None until build_cluster


@dataclass(frozen=True)
class Trace:
    path: str
    kind: str  # json | bitbrains | planetlab
    step_seconds: int
    hosts: tuple[HostSpec, ...]
    guests: tuple[GuestTrace, ...]
    groups: tuple[PlacementGroup, ...] = ()  # placement groups the replay keeps (scenario format)

    @property
    def steps(self) -> int:
        return len(self.guests[0].cpu) if self.guests else 0


def read_trace(path: str | Path, seed: int = 0) -> Trace:
    """Read any supported trace; ``seed`` only matters for PlanetLab VM sizes."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return read_json(path)
    if path.is_file() and path.name.lower().endswith(".tsv.gz"):
        return read_planetlab_packed(path, seed=seed)
    if path.is_dir():
        folder = _data_folder(path)
        if any(p.suffix == ".csv" for p in _data_files(folder)):
            return read_bitbrains(folder)
        return read_planetlab(folder, seed=seed)
    if not path.exists():
        raise TraceError(path, "no such file or folder")
    raise TraceError(
        path, "not a trace: give a .json file, a folder of Bitbrains .csv or PlanetLab files, or a PlanetLab .tsv.gz"
    )


def _data_files(folder: Path) -> list[Path]:
    return [
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _PROVENANCE_FILES
    ]


def _data_folder(path: Path) -> Path:
    # The shared trace folders hold provenance files and one data sub-folder
    # (e.g. bitbrains-rnd-20130821/2013-8); accept either level.
    if _data_files(path):
        return path
    subfolders = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subfolders) == 1:
        return _data_folder(subfolders[0])
    raise TraceError(path, "no trace files in this folder")


# --- our JSON ---------------------------------------------------------------


def read_json(path: Path) -> Trace:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"invalid JSON: {exc.msg}", exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"cannot read: {exc}") from None
    # JSON keeps no line numbers once parsed, so schema errors name the field.
    field = _JsonFields(path)
    if not isinstance(data, dict):
        raise TraceError(path, "expected a JSON object with step_seconds, hosts and guests")
    step = field.positive_int(data, "step_seconds", "step_seconds")
    hosts = tuple(
        HostSpec(
            name=field.text(h, "name", f"hosts[{i}]"),
            cpu_count=field.positive_int(h, "cpu_count", f"hosts[{i}]"),
            mem_total=field.positive_int(h, "mem_total", f"hosts[{i}]"),
        )
        for i, h in enumerate(field.objects(data, "hosts"))
    )
    host_names = {h.name for h in hosts}
    guests = []
    for i, g in enumerate(field.objects(data, "guests")):
        where = f"guests[{i}]"
        host = field.text(g, "host", where)
        if host not in host_names:
            raise TraceError(path, f"{where}.host: '{host}' is not one of the hosts")
        guests.append(GuestTrace(
            name=field.text(g, "name", where),
            vcpu_count=field.positive_int(g, "vcpu_count", where),
            vmem_size=field.positive_int(g, "vmem_size", where),
            cpu=field.percentages(g, "cpu", where),
            host=host,
        ))
    lengths = {len(g.cpu) for g in guests}
    if len(lengths) > 1:
        raise TraceError(path, f"every guest's cpu list must have the same length, found {sorted(lengths)}")
    for label, names in (("host", [h.name for h in hosts]), ("guest", [g.name for g in guests])):
        if len(set(names)) != len(names):
            raise TraceError(path, f"duplicate {label} name")
    if not hosts or not guests:
        raise TraceError(path, "needs at least one host and one guest")
    groups = parse_trace_groups(path, data.get("groups", []), host_names, {g.name for g in guests})
    return Trace(str(path), "json", step, hosts, tuple(guests), groups)


def parse_trace_groups(path, data, host_names: set[str], guest_names: set[str]) -> tuple[PlacementGroup, ...]:
    """A trace's ``groups``, in the scenario file's format and with its checks."""
    try:
        return parse_groups(data, host_names, guest_names)
    except ScenarioError as exc:
        raise TraceError(path, str(exc)) from None


def with_groups(trace: Trace, path: str | Path) -> Trace:
    """``trace`` with the groups of the JSON file at ``path`` (``{"groups": [...]}``), checked against it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"invalid JSON: {exc.msg}", exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"cannot read: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"groups"}:
        raise TraceError(path, 'expected a JSON object with one field, "groups"')
    groups = parse_trace_groups(path, data["groups"], {h.name for h in trace.hosts}, {g.name for g in trace.guests})
    return replace(trace, groups=groups)


class _JsonFields:
    """Typed field access whose errors name the JSON path of the bad field."""

    def __init__(self, path: Path):
        self.path = path

    def _get(self, obj: dict, key: str, where: str):
        if not isinstance(obj, dict) or key not in obj:
            raise TraceError(self.path, f"{where}: missing field '{key}'")
        return obj[key]

    def objects(self, obj: dict, key: str) -> list[dict]:
        value = self._get(obj, key, "top level")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise TraceError(self.path, f"{key}: expected a list of objects")
        return value

    def text(self, obj: dict, key: str, where: str) -> str:
        value = self._get(obj, key, where)
        if not isinstance(value, str) or not value:
            raise TraceError(self.path, f"{where}.{key}: expected a non-empty string")
        return value

    def positive_int(self, obj: dict, key: str, where: str) -> int:
        value = self._get(obj, key, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or value != int(value):
            raise TraceError(self.path, f"{where}.{key}: expected a positive whole number, got {value!r}")
        return int(value)

    def percentages(self, obj: dict, key: str, where: str) -> tuple[float, ...]:
        value = self._get(obj, key, where)
        if not isinstance(value, list) or not value:
            raise TraceError(self.path, f"{where}.{key}: expected a non-empty list of CPU percentages")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100:
                raise TraceError(self.path, f"{where}.{key}: {v!r} is not a CPU percentage (0-100)")
        return tuple(float(v) for v in value)


# --- GWA-T-12 Bitbrains -----------------------------------------------------


def read_bitbrains(folder: Path) -> Trace:
    """Read every ``*.csv`` VM file, bucketed to common 5-minute steps.

    Timestamps (epoch seconds despite the "[ms]" header) are not aligned
    across VMs, so each sample goes to the step it falls in; a step with
    several samples takes their mean, one with none repeats the last known
    value. VMs that are all zero (powered off) are skipped.
    """
    files = sorted((p for p in _data_files(folder) if p.suffix == ".csv"), key=_natural_key)
    raw = [vm for vm in (_read_bitbrains_file(p) for p in files) if vm is not None]
    if not raw:
        raise TraceError(folder, "every VM in this trace is all zeros")
    step = STEP_SECONDS_REAL_TRACES
    start = min(ts[0] for _, _, _, ts, _ in raw) // step * step
    steps = max(int((ts[-1] - start) // step) for _, _, _, ts, _ in raw) + 1
    guests = tuple(
        GuestTrace(name=name, vcpu_count=cores, vmem_size=mem_mb,
                   cpu=_bucket(timestamps, cpu, start, step, steps))
        for name, cores, mem_mb, timestamps, cpu in raw
    )
    return Trace(str(folder), "bitbrains", step, (), guests)


def _natural_key(path: Path) -> tuple:
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def _read_bitbrains_file(path: Path):
    """-> (name, vcpus, memory MB, timestamps, cpu %) or None for an all-zero VM."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"cannot read: {exc}") from None
    if not lines or not lines[0].startswith("Timestamp"):
        raise TraceError(path, "expected the Bitbrains header line starting with 'Timestamp'", 1)
    if len(lines) < 2:
        raise TraceError(path, "no data rows after the header", 1)
    timestamps: list[float] = []
    cores: list[float] = []
    percent: list[float] = []
    max_mem_kb = 0.0
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(";")
        if len(fields) != BITBRAINS_FIELDS:
            raise TraceError(path, f"expected {BITBRAINS_FIELDS} ';'-separated fields, got {len(fields)}", number)
        try:
            ts = float(fields[_BB_TIMESTAMP])
            row_cores = float(fields[_BB_CORES])
            row_percent = float(fields[_BB_CPU_PERCENT])
            mem_kb = float(fields[_BB_MEM_KB])
        except ValueError:
            raise TraceError(path, "timestamp, cores, CPU % and memory must be numbers", number) from None
        if timestamps and ts < timestamps[-1]:
            raise TraceError(path, f"timestamp {ts:.0f} goes back in time", number)
        timestamps.append(ts)
        cores.append(row_cores)
        percent.append(row_percent)
        max_mem_kb = max(max_mem_kb, mem_kb)
    max_cores = max(cores)
    if max_cores <= 0 or max_mem_kb <= 0:
        return None  # powered off all day (e.g. 20.csv, 82.csv in 2013-8)
    # 57 VMs change their cores within the day; the guest keeps its largest
    # size and each sample is rescaled to it. Rounding error lets a few
    # samples exceed 100 %, which a CPU cannot: clip.
    cpu = [min(100.0, max(0.0, p * c / max_cores)) for p, c in zip(percent, cores, strict=True)]
    return path.stem, int(max_cores), math.ceil(max_mem_kb / 1024), timestamps, cpu


def _bucket(timestamps: list[float], values: list[float], start: float, step: int, steps: int) -> tuple[float, ...]:
    sums = [0.0] * steps
    counts = [0] * steps
    for ts, value in zip(timestamps, values, strict=True):
        slot = int((ts - start) // step)
        sums[slot] += value
        counts[slot] += 1
    first = next(i for i, c in enumerate(counts) if c)
    last = sums[first] / counts[first]  # a VM that starts late repeats its first sample backwards
    series = []
    for total, count in zip(sums, counts, strict=True):
        if count:
            last = total / count
        series.append(round(last, 4))
    return tuple(series)


# --- PlanetLab --------------------------------------------------------------


def read_planetlab(folder: Path, seed: int = 0) -> Trace:
    """Read one-integer-a-line VM files; vCPUs and memory are drawn, seeded."""
    files = sorted(_data_files(folder), key=lambda p: p.name)
    if not files:
        raise TraceError(folder, "no trace files in this folder")
    series = [(p, _read_planetlab_file(p)) for p in files]
    steps = max(len(values) for _, values in series)
    for path, values in series:
        if len(values) < steps:
            raise TraceError(path, f"file ends after {len(values)} samples, other VMs have {steps}", len(values) + 1)
    return _planetlab_trace(folder, [(p.name, values) for p, values in series], seed)


def _planetlab_trace(path: Path, series: list[tuple[str, list[float]]], seed: int) -> Trace:
    # VM sizes are drawn in file-name order, so a packed day and its unpacked
    # folder give the same cluster for the same seed.
    rng = random.Random(f"planetlab-sizes:{seed}")
    guests = []
    for name, values in series:
        vcpus = rng.choices(PLANETLAB_VCPUS, PLANETLAB_VCPU_WEIGHTS)[0]
        mb_per_vcpu = rng.choices(PLANETLAB_MB_PER_VCPU, PLANETLAB_MB_PER_VCPU_WEIGHTS)[0]
        guests.append(GuestTrace(name, vcpus, vcpus * mb_per_vcpu, tuple(values)))
    return Trace(str(path), "planetlab", STEP_SECONDS_REAL_TRACES, (), tuple(guests))


def read_planetlab_packed(path: Path, seed: int = 0) -> Trace:
    """Read a PlanetLab day packed one VM a line: ``NAME<TAB>v1 v2 ...`` (gzip)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows = list(enumerate(lines, start=1))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"cannot read: {exc}") from None
    series: list[tuple[str, list[float]]] = []
    line_of: list[int] = []
    for number, line in rows:
        line = line.rstrip("\n")
        if not line:
            continue
        name, tab, text = line.partition("\t")
        if not tab or not name:
            raise TraceError(path, "expected a VM name, a TAB, then its CPU percentages", number)
        values = []
        for word in text.split():
            try:
                value = float(word)
            except ValueError:
                raise TraceError(path, f"expected CPU percentages, got {word[:40]!r}", number) from None
            if not 0 <= value <= 100:
                raise TraceError(path, f"CPU percentage {value:g} is outside 0-100", number)
            values.append(value)
        if not values:
            raise TraceError(path, f"VM {name[:40]!r} has no CPU percentages", number)
        series.append((name, values))
        line_of.append(number)
    if not series:
        raise TraceError(path, "no VM lines in this file")
    steps = max(len(values) for _, values in series)
    for number, (name, values) in zip(line_of, series, strict=True):
        if len(values) < steps:
            raise TraceError(path, f"VM {name[:40]!r} has {len(values)} samples, others have {steps}", number)
    series.sort(key=lambda row: row[0])
    return _planetlab_trace(path, series, seed)


def _read_planetlab_file(path: Path) -> list[float]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"cannot read: {exc}") from None
    values = []
    for number, line in enumerate(lines, start=1):
        try:
            value = float(line)
        except ValueError:
            raise TraceError(path, f"expected one CPU percentage per line, got {line[:40]!r}", number) from None
        if not 0 <= value <= 100:
            raise TraceError(path, f"CPU percentage {value:g} is outside 0-100", number)
        values.append(value)
    if not values:
        raise TraceError(path, "empty file, expected one CPU percentage per line", 1)
    return values


# --- hosts and initial placement --------------------------------------------


def mean_cpu_demand_cores(trace: Trace) -> float:
    """Mean over the trace of the cores the guests keep busy, all together."""
    return sum(g.vcpu_count * sum(g.cpu) / len(g.cpu) for g in trace.guests) / 100.0


def build_cluster(trace: Trace, hosts: int | None = None, seed: int = 0) -> Trace:
    """Give a host-less trace homogeneous hosts and a seeded initial placement.

    By default there are as many ``DEFAULT_HOST_CORES``-core hosts as put the
    day's mean cluster CPU near ``TARGET_MEAN_CPU_PERCENT``: a cluster run at
    that level has headroom on average, so overloads come from imbalance and
    peaks, which is what a balancer can fix. Host memory is sized from the
    trace (fill about ``TARGET_MEM_FILL``, and the largest guest must fit).
    Placement is random but respects memory. A trace that already has hosts
    (JSON) is returned unchanged.
    """
    if trace.hosts:
        if hosts is not None:
            raise TraceError(trace.path, "--hosts applies only to traces without hosts; this JSON trace has its own")
        return trace
    demand = mean_cpu_demand_cores(trace)
    if hosts is None:
        hosts = max(2, round(demand / (DEFAULT_HOST_CORES * TARGET_MEAN_CPU_PERCENT / 100)))
    if hosts < 1:
        raise TraceError(trace.path, f"--hosts must be at least 1, got {hosts}")
    total_bytes = sum(g.vmem_size for g in trace.guests) * 1024**2
    largest_bytes = max(g.vmem_size for g in trace.guests) * 1024**2
    mem_total = max(total_bytes / (hosts * TARGET_MEM_FILL), largest_bytes / (1 - 2 * PLACEMENT_MEM_FLOOR))
    mem_total = math.ceil(mem_total / HOST_MEM_ROUND_BYTES) * HOST_MEM_ROUND_BYTES
    specs = tuple(HostSpec(f"host-{i + 1:03d}", DEFAULT_HOST_CORES, mem_total) for i in range(hosts))
    return replace(trace, hosts=specs, guests=_place(trace, specs, seed))


def _place(trace: Trace, hosts: tuple[HostSpec, ...], seed: int) -> tuple[GuestTrace, ...]:
    # Largest guests first so the big ones still find room; each goes to a
    # random host that keeps the memory floor. Seeded, hence reproducible.
    rng = random.Random(f"placement:{seed}")
    free = {h.name: h.mem_total * (1 - PLACEMENT_MEM_FLOOR) for h in hosts}
    placed: dict[str, str] = {}
    for guest in sorted(trace.guests, key=lambda g: (-g.vmem_size, g.name)):
        need = guest.vmem_size * 1024**2
        fitting = [name for name, room in free.items() if room >= need]
        if not fitting:
            raise TraceError(
                trace.path,
                f"guest {guest.name} ({guest.vmem_size} MB) fits on no host; use more --hosts",
            )
        host = rng.choice(fitting)
        free[host] -= need
        placed[guest.name] = host
    return tuple(replace(g, host=placed[g.name]) for g in trace.guests)
