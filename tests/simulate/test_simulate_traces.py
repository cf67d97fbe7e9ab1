"""Trace readers and cluster building: pure Python, no database."""

import json
from pathlib import Path

import pytest

from automigrate.simulator.traces import (
    TraceError,
    build_cluster,
    mean_cpu_demand_cores,
    read_trace,
)
from tests.simulate.trace_builders import guest, host, trace, write_json

# The shared traces sit next to the repository (../shared/data/traces).
TRACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces"
BB_HEADER = (
    "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\t"
    "Memory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\t"
    "Disk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]"
)
T0 = 1377036000  # a multiple of 300, as the real trace's window start


def bb_row(ts: int, cores: int, percent: float, mem_kb: float = 4194304.0) -> str:
    fields = [ts, cores, cores * 2600.0, cores * 26.0 * percent, percent, mem_kb, mem_kb / 10, 0.0, 0.0, 0.0, 0.0]
    return ";\t".join(str(f) for f in fields)


def write_bitbrains(folder: Path, files: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("\n".join([BB_HEADER, *rows]) + "\n")
    return folder


# --- JSON --------------------------------------------------------------------


def test_it_reads_hosts_guests_and_placement_from_json(tmp_path):
    original = trace([host("h1"), host("h2", cpu_count=16)], [guest("vm1", "h2", [1, 2.5, 3])])
    t = read_trace(write_json(tmp_path, original))
    assert t.kind == "json"
    assert t.hosts == original.hosts
    assert t.guests == original.guests
    assert t.steps == 3


def test_it_names_the_line_of_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"step_seconds": 300,\n "hosts": [\n  {"name": "h1",,}]}')
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert str(err.value).startswith(f"{path} line 3: invalid JSON")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["guests"][0].update(cpu=[10, 120]), "guests[0].cpu: 120 is not a CPU percentage"),
        (lambda d: d["guests"][0].update(host="nowhere"), "guests[0].host: 'nowhere' is not one of the hosts"),
        (lambda d: d["hosts"][0].pop("cpu_count"), "hosts[0]: missing field 'cpu_count'"),
        (lambda d: d["guests"][1].update(cpu=[1, 2, 3]), "same length"),
    ],
)
def test_it_names_the_bad_field_of_a_json_trace(tmp_path, mutate, message):
    data = {
        "step_seconds": 300,
        "hosts": [{"name": "h1", "cpu_count": 8, "mem_total": 2**36}],
        "guests": [
            {"name": "a", "host": "h1", "vcpu_count": 1, "vmem_size": 512, "cpu": [1, 2]},
            {"name": "b", "host": "h1", "vcpu_count": 1, "vmem_size": 512, "cpu": [1, 2]},
        ],
    }
    mutate(data)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TraceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_trace(path)


# --- Bitbrains -----------------------------------------------------------------


def test_it_buckets_bitbrains_samples_into_common_steps(tmp_path):
    folder = write_bitbrains(tmp_path / "2013-8", {
        # Phase offsets differ per VM; step 1 has two samples (mean), step 2 none (repeat).
        "1.csv": [bb_row(T0 + 10, 2, 10.0), bb_row(T0 + 310, 2, 20.0), bb_row(T0 + 590, 2, 40.0),
                  bb_row(T0 + 910, 2, 50.0)],
        "2.csv": [bb_row(T0 + 200, 4, 105.0), bb_row(T0 + 500, 4, 1.0), bb_row(T0 + 800, 4, 1.0),
                  bb_row(T0 + 1100, 4, 1.0)],
    })
    t = read_trace(folder)
    assert t.kind == "bitbrains"
    assert t.step_seconds == 300 and t.steps == 4
    first, second = t.guests
    assert first.cpu == (10.0, 30.0, 30.0, 50.0)
    assert second.cpu[0] == 100.0  # clipped: a CPU cannot be more than fully busy
    assert (first.vcpu_count, first.vmem_size) == (2, 4096)


def test_it_skips_all_zero_bitbrains_vms(tmp_path):
    zero = ";\t".join(["1377036128"] + ["0"] + ["0.0"] * 9)
    folder = write_bitbrains(tmp_path / "f", {"1.csv": [bb_row(T0, 1, 5.0)], "20.csv": [zero, zero]})
    assert [g.name for g in read_trace(folder).guests] == ["1"]


def test_it_rescales_cpu_when_a_vm_changes_cores(tmp_path):
    folder = write_bitbrains(tmp_path / "f", {"1.csv": [bb_row(T0, 2, 80.0), bb_row(T0 + 300, 4, 80.0)]})
    t = read_trace(folder)
    assert t.guests[0].vcpu_count == 4
    assert t.guests[0].cpu == (40.0, 80.0)  # 80 % of 2 cores is 40 % of the guest's 4


def test_it_reports_the_file_and_line_of_a_truncated_bitbrains_row(tmp_path):
    folder = write_bitbrains(tmp_path / "f", {
        "1.csv": [bb_row(T0, 1, 5.0), bb_row(T0 + 300, 1, 5.0), "1377036728;\t1;\t26"],
    })
    with pytest.raises(TraceError) as err:
        read_trace(folder)
    assert str(err.value) == f"{folder / '1.csv'} line 4: expected 11 ';'-separated fields, got 3"


def test_it_reports_a_non_numeric_bitbrains_field(tmp_path):
    folder = write_bitbrains(tmp_path / "f", {"7.csv": [bb_row(T0, 1, 5.0).replace("5.0", "lots", 1)]})
    with pytest.raises(TraceError, match=r"7\.csv line 2: .*must be numbers"):
        read_trace(folder)


def test_it_finds_the_data_folder_below_the_provenance_files(tmp_path):
    write_bitbrains(tmp_path / "trace" / "2013-8", {"1.csv": [bb_row(T0, 1, 5.0)]})
    (tmp_path / "trace" / "SOURCE.md").write_text("# about\n")
    assert read_trace(tmp_path / "trace").kind == "bitbrains"


# --- PlanetLab -----------------------------------------------------------------


def write_planetlab(folder: Path, files: dict[str, list[int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in files.items():
        (folder / name).write_text("".join(f"{v}\n" for v in values))
    (folder / "SHA256SUMS").write_text("not a vm\n")
    return folder


def test_it_reads_planetlab_and_draws_sizes_from_the_seed(tmp_path):
    folder = write_planetlab(tmp_path / "20110303", {f"node_{i} slice": [i, 50, 99] for i in range(40)})
    t = read_trace(folder, seed=1)
    assert t.kind == "planetlab" and t.steps == 3 and len(t.guests) == 40
    assert t.guests[0].name == "node_0 slice" and t.guests[0].cpu == (0.0, 50.0, 99.0)
    assert all(g.vcpu_count in (1, 2, 4, 8) and g.vmem_size % 1024 == 0 for g in t.guests)
    assert read_trace(folder, seed=1) == t
    sizes = lambda tr: [(g.vcpu_count, g.vmem_size) for g in tr.guests]  # noqa: E731
    assert sizes(read_trace(folder, seed=2)) != sizes(t)


def test_it_reports_a_truncated_planetlab_file(tmp_path):
    folder = write_planetlab(tmp_path / "p", {"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(TraceError) as err:
        read_trace(folder)
    assert str(err.value) == f"{folder / 'b'} line 3: file ends after 2 samples, other VMs have 3"


def test_it_reports_a_garbled_planetlab_line(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "a").write_text("1\n2\nx7\n")
    with pytest.raises(TraceError, match=r"a line 3: expected one CPU percentage per line"):
        read_trace(folder)


def test_it_rejects_a_path_that_is_not_a_trace(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(TraceError, match="not a trace"):
        read_trace(tmp_path / "notes.txt")
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "missing.json")


# --- hosts and placement ---------------------------------------------------------


def hostless(n_guests: int = 60):
    guests = [guest(f"g{i}", None, [20 + (i * 7) % 60] * 4, vcpus=1 + i % 4, mem_mb=1024 * (1 + i % 8))
              for i in range(n_guests)]
    return trace([], guests)


def test_default_hosts_put_mean_cluster_cpu_near_40_percent():
    t = hostless()
    cluster = build_cluster(t, seed=3)
    cores = sum(h.cpu_count for h in cluster.hosts)
    assert 30 <= 100 * mean_cpu_demand_cores(t) / cores <= 50


def test_placement_respects_memory_and_is_seeded():
    cluster = build_cluster(hostless(), hosts=4, seed=3)
    assert len(cluster.hosts) == 4
    for h in cluster.hosts:
        used = sum(g.vmem_size * 1024**2 for g in cluster.guests if g.host == h.name)
        assert used <= 0.9 * h.mem_total
    assert build_cluster(hostless(), hosts=4, seed=3) == cluster
    other = build_cluster(hostless(), hosts=4, seed=4)
    assert [g.host for g in other.guests] != [g.host for g in cluster.guests]


def test_it_refuses_hosts_for_a_trace_that_has_its_own():
    with pytest.raises(TraceError, match="--hosts applies only"):
        build_cluster(trace([host("h1")], [guest("a", "h1", [1])]), hosts=3)


@pytest.mark.skipif(not TRACES.exists(), reason="shared traces not present")
def test_the_real_bitbrains_trace_reads_as_one_day_of_498_vms():
    t = read_trace(TRACES / "bitbrains-rnd-20130821")
    assert (t.steps, t.step_seconds, len(t.guests)) == (288, 300, 498)
    assert max(max(g.cpu) for g in t.guests) <= 100.0
    assert not {"20", "82"} & {g.name for g in t.guests}
