"""The CLI shows a failure as a table drawn from the engine's records: ``plan --text`` and ``evaluate``."""

import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from automigrate.engine.model import CPU
from automigrate.models import Guest, Host
from automigrate.services.rules import create_rule
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples

SEED = {
    "rule": {"name": "test-cpu", "metric": CPU, "threshold": 60, "source_hosts": ["test-66-onecloud02"]},
    "hosts": [
        {"name": name, "cpu_count": 40, "mem_total": 256 * GIB, "cpu.usage_active": cpu, "mem.available": 128 * GIB}
        for name, cpu in (("test-66-onecloud02", 66.53), ("test-69-onecloud01", 55.313408), ("a15", 62.305391))
    ],
    "guests": [{"name": "cpu-test-vm", "host": "test-66-onecloud02", "vcpu_count": 24, "vmem_size": 1024,
                "cpu.usage_active": 99.46995000000001}],
}


def test_plan_text_shows_the_seed_failure_as_a_table(tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(SEED))
    out = io.StringIO()
    call_command("plan", "--scenario", str(path), "--text", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "rule test-cpu (policy automigrate, cpu.usage_active > 60.00%): find_result_fail"
    start = lines.index("no target for cpu-test-vm on test-66-onecloud02:")
    assert [line.split() for line in lines[start + 2:start + 4]] == [
        ["test-69-onecloud01", "55.31%", "59.68%", "rule", "threshold", "≥", "60.00%"],
        ["a15", "62.31%", "59.68%", "rule", "threshold", "≥", "60.00%"],
    ]
    # The JSON of the same plan carries the same numbers, and still the reference's text.
    out = io.StringIO()
    call_command("plan", "--scenario", str(path), stdout=out)
    (failure,) = json.loads(out.getvalue())["failures"]
    assert [(r["target"], r["current"]) for r in failure["rejections"]] == [
        ("test-69-onecloud01", 55.313408), ("a15", 62.305391)
    ]
    assert failure["notes"].startswith("not found target for guest cpu-test-vm: [host:test-69-onecloud01:current(")


@pytest.mark.django_db
def test_evaluate_prints_the_table_of_each_guest_no_target_took():
    now = timezone.now()
    hot = Host.objects.create(name="a15", cpu_count=40, mem_total=256 * GIB)
    near = Host.objects.create(name="test-69", cpu_count=40, mem_total=256 * GIB)
    vm = Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024)
    write_samples(hot, now, cpu=62.3, mem=100 * GIB)
    write_samples(near, now, cpu=55.3, mem=100 * GIB)
    write_guest_samples(vm, now, 99.47)
    create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "2m"})

    out = io.StringIO()
    call_command("evaluate", "--rule", "test-cpu", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("test-cpu: find_result_fail: ")
    assert "  no target for cpu-test-vm on a15:" in lines
    row = next(line for line in lines if line.strip().startswith("test-69 "))
    assert row.split() == ["test-69", "55.30%", "59.68%", "rule", "threshold", "≥", "60.00%"]
