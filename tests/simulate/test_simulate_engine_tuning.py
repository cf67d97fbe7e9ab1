"""Engine knobs added after replaying the real traces (see BENCHMARKS.md). No database."""

from automigrate.engine import plan
from automigrate.engine.model import CPU, GuestState, HostState, RuleSpec, Snapshot, Tuning

GIB = 1024**3
RULE = RuleSpec(name="r", metric=CPU, threshold=60)


def host(name: str, cpu: float) -> HostState:
    return HostState(name=name, cpu_count=32, mem_total=256 * GIB, cpu=cpu, mem_available=128 * GIB)


def test_a_guest_does_not_return_within_the_hour_even_after_its_cooldown():
    # vm left "b" 40 minutes ago: out of the 30-minute cooldown, inside the 60-minute no-return window.
    vm = GuestState("vm", "a", vcpu_count=8, vmem_size=4096, cpu=50.0,
                    last_migrated_from="b", minutes_since_migration=40.0)
    snapshot = Snapshot(hosts=(host("a", 65.0), host("b", 10.0)), guests=(vm,))
    blocked = plan(snapshot, RULE, tuning=Tuning(cooldown_minutes=30))
    assert blocked.moves == []
    assert "no-return window 60.0 min" in blocked.failures[0].notes
    allowed = plan(snapshot, RULE, tuning=Tuning(cooldown_minutes=30, bounce_back_minutes=30))
    assert [(m.guest, m.target) for m in allowed.moves] == [("vm", "b")]


def test_automigrate_does_not_copy_a_guest_that_barely_relieves_its_host():
    # 1 vCPU at 16 % on 32 cores is 0.5 points of relief: not worth a memory copy.
    tiny = GuestState("tiny", "a", vcpu_count=1, vmem_size=8192, cpu=16.0)
    snapshot = Snapshot(hosts=(host("a", 61.0), host("b", 10.0)), guests=(tiny,))
    result = plan(snapshot, RULE)
    assert result.moves == []
    assert [(s.guest, s.reason) for s in result.skipped if s.guest] == [("tiny", "low_relief")]
    # (With no floor, the partial-relief rule would still take it back: 61 -> 60.5 is not relief.)
    no_floor = Tuning(min_relief_percent=0, partial_relief_fraction=0)
    assert [m.guest for m in plan(snapshot, RULE, tuning=no_floor).moves] == ["tiny"]


def test_classic_keeps_the_reference_behaviour_for_small_guests():
    tiny = GuestState("tiny", "a", vcpu_count=1, vmem_size=8192, cpu=16.0)
    snapshot = Snapshot(hosts=(host("a", 61.0), host("b", 10.0)), guests=(tiny,))
    assert [m.guest for m in plan(snapshot, RULE, policy="classic").moves] == ["tiny"]
