"""The replay loop on hand-made traces whose right answer is known. No database."""

import random

import pytest

from automigrate.engine.model import Tuning
from automigrate.simulator.replay import ReplayConfig, is_ping_pong, replay
from automigrate.simulator.traces import build_cluster
from tests.simulate.trace_builders import guest, host, hot_then_calm, trace

# Timeouts far beyond any duration used here, so slow migrations succeed.
PATIENT = {"timeout_base_seconds": 10_000.0}
# The settle and one-batch cases are worked out for the 5 % margin's choice of guest (the 4000 MB one).
FIVE_PERCENT_MARGIN = Tuning(hysteresis_fraction=0.05)


def run(t, policy="automigrate", **overrides):
    return replay(t, ReplayConfig(policy=policy, **overrides))


def test_none_counts_every_overloaded_host_step():
    result = run(hot_then_calm(), "none")
    assert result.overload_host_minutes == 30.0  # 6 steps of 5 minutes, one host
    assert result.migrations == 0
    assert result.peak_host_cpu == 70.0
    assert (result.steps, result.step_seconds, result.hosts, result.guests) == (12, 300, 2, 3)


@pytest.mark.parametrize("policy", ["automigrate", "classic"])
def test_one_migration_relieves_the_hot_host(policy):
    result = run(hot_then_calm(), policy)
    assert result.migrations == 1
    # The first check (after one 10-minute window) sees 70 %; after the move
    # neither host is over the threshold, and the idle peer stays under it.
    assert result.overload_host_minutes == 10.0
    assert result.ping_pongs == 0 and result.failed_migrations == 0


def test_automigrate_copies_less_memory_than_classic_for_the_same_relief():
    # vm2 (4 GiB) alone brings h1 under the threshold; classic takes the first fit, vm1 (8 GiB).
    assert run(hot_then_calm()).migrated_gib == 4.0
    assert run(hot_then_calm(), "classic").migrated_gib >= 4.0


def test_overload_counts_strictly_above_the_threshold():
    assert run(hot_then_calm(), "none", threshold=70).overload_host_minutes == 0.0


def settle_case():
    """h1 at 70 % all along; moving one small guest brings it to 55 %, under the 57 % aim."""
    steps = 12
    return trace(
        [host("h1"), host("h2")],
        [
            guest("big", "h1", [80] * steps, vcpus=4, mem_mb=16384),
            guest("small1", "h1", [60] * steps, vcpus=2, mem_mb=4000),
            guest("small2", "h1", [60] * steps, vcpus=2, mem_mb=4000),
            guest("idle", "h2", [0] * steps, vcpus=2, mem_mb=1024),
        ],
    )


def test_the_rule_settles_one_window_after_a_batch():
    # 4000 MB at 8 MB/s: the move runs from 600 s to 1100 s. At the 1200 s
    # check the window (600-1200 s) still averages 67.5 % on h1 because it is
    # mostly pre-migration; acting on it would move a second guest for nothing.
    result = run(settle_case(), bandwidth_mb_per_s=8.0, tuning=FIVE_PERCENT_MARGIN, **PATIENT)
    assert result.migrations == 1
    assert result.overload_host_minutes == 20.0  # steps 0-3; step 3 is still 65 % on average


def test_one_batch_at_a_time_while_a_migration_is_in_flight():
    # 4000 MB at 2 MB/s = 2000 s in flight (600-2600 s): the checks at 1200,
    # 1800 and 2400 s see h1 hot but must wait for the batch.
    result = run(settle_case(), bandwidth_mb_per_s=2.0, tuning=FIVE_PERCENT_MARGIN, **PATIENT)
    assert result.migrations == 1
    assert result.overload_host_minutes == 45.0  # steps 0-8


def two_hot_hosts():
    steps = 12
    return trace(
        [host("h1"), host("h2"), host("h3"), host("h4")],
        [
            guest("a1", "h1", [100] * steps), guest("a2", "h1", [40] * steps, mem_mb=4000),
            guest("b1", "h2", [100] * steps), guest("b2", "h2", [40] * steps, mem_mb=4000),
            guest("c", "h3", [0] * steps, vcpus=1), guest("d", "h4", [0] * steps, vcpus=1),
        ],
    )


def test_in_flight_cap_makes_later_moves_of_a_batch_wait():
    # Both hot hosts get a move in one batch; each takes 400 s at 10 MB/s.
    parallel = run(two_hot_hosts(), bandwidth_mb_per_s=10.0, **PATIENT)
    serial = run(two_hot_hosts(), bandwidth_mb_per_s=10.0, max_in_flight=1, **PATIENT)
    assert parallel.migrations == serial.migrations == 2
    assert serial.overload_host_minutes > parallel.overload_host_minutes


def test_failed_migrations_leave_the_guest_where_it_was():
    result = run(hot_then_calm(), failure_probability=1.0)
    assert result.migrations >= 1
    assert result.failed_migrations == result.migrations
    assert result.overload_host_minutes == run(hot_then_calm(), "none").overload_host_minutes


def bounce_case():
    """vm_a is the only guest that can move; the load makes it worth moving back 40 minutes later.

    h1 = vm_a (50 %) + vm_b; vm_b (40 GiB) and vm_c (30 GiB) never fit on the
    other 64 GiB host. First 30 minutes: h1 = 65 %, h2 = 0 % -> vm_a to h2.
    Then vm_b idles and vm_c wakes: h2 = 50 + 15 = 65 %, h1 = 0 %.
    """
    steps = 24
    phase = 6
    return trace(
        [host("h1"), host("h2")],
        [
            guest("vm_a", "h1", [100] * steps, mem_mb=1024),
            guest("vm_b", "h1", [30] * phase + [0] * (steps - phase), mem_mb=40 * 1024),
            guest("vm_c", "h2", [0] * phase + [30] * (steps - phase), mem_mb=30 * 1024),
        ],
    )


def test_a_return_within_the_hour_counts_as_a_ping_pong():
    # With cooldown and no-return window both at 30 minutes, vm_a may go back
    # 40 minutes after it left: allowed by that tuning, but it is a ping-pong.
    result = run(bounce_case(), tuning=Tuning(cooldown_minutes=30, bounce_back_minutes=30))
    assert result.migrations == 2
    assert result.ping_pongs == 1


def test_the_default_no_return_window_prevents_the_ping_pong():
    # vm_a may not return within the hour: h2 fires and finds nothing to move
    # until then, and the late return is no longer a ping-pong.
    result = run(bounce_case())
    assert result.ping_pongs == 0
    assert result.migrations == 2
    assert result.find_result_fail >= 1


def test_is_ping_pong_only_within_the_hour_and_to_the_host_left():
    departures = [(1, 1000.0)]
    assert is_ping_pong(departures, 1, 1000.0 + 3599)
    assert not is_ping_pong(departures, 1, 1000.0 + 3600)
    assert not is_ping_pong(departures, 2, 1100.0)


def random_hostless_trace(seed: int, guests: int = 80, steps: int = 48):
    rng = random.Random(seed)
    out = []
    for i in range(guests):
        base = rng.uniform(0, 60)
        series = [min(100.0, max(0.0, base + rng.gauss(0, 25))) for _ in range(steps)]
        out.append(guest(f"g{i}", None, series, vcpus=rng.choice([1, 2, 4, 8]), mem_mb=rng.choice([1024, 4096])))
    return trace([], out)


@pytest.mark.parametrize("policy", ["automigrate", "classic", "none"])
def test_same_inputs_and_seed_give_the_same_result(policy):
    results = [
        run(build_cluster(random_hostless_trace(7), seed=11), policy, seed=11, failure_probability=0.2).to_dict()
        for _ in range(2)
    ]
    assert results[0] == results[1]


def test_a_different_seed_gives_a_different_cluster():
    a = run(build_cluster(random_hostless_trace(7), seed=1), "none").to_dict()
    b = run(build_cluster(random_hostless_trace(7), seed=2), "none").to_dict()
    assert a != b


def test_the_result_has_exactly_the_fields_of_the_issue():
    assert list(run(hot_then_calm()).to_dict()) == [
        "policy", "trace", "steps", "step_seconds", "hosts", "guests", "threshold",
        "overload_host_minutes", "peak_host_cpu", "migrations", "migrated_gib", "ping_pongs",
        "find_result_fail", "failed_migrations", "mean_host_cpu_stddev", "gib_off_unrelieved",
    ]


def test_a_trace_without_placement_is_refused():
    with pytest.raises(ValueError, match="build_cluster"):
        run(random_hostless_trace(1), "none")


def test_the_rule_is_checked_again_at_the_first_step_after_its_batch_settled(monkeypatch):
    """Like the live evaluator: one extra check right after the settle window, not a period late."""
    from automigrate.simulator import replay as replay_module

    checks: list[float] = []
    original = replay_module._Replay._evaluate

    def recording(self, k, now):
        checks.append(now)
        return original(self, k, now)

    monkeypatch.setattr(replay_module._Replay, "_evaluate", recording)
    result = run(hot_then_calm(), period_seconds=600)

    # The batch starts at the 600 s check and ends ~10 s later; its window ends
    # at ~1210 s, so the first step boundary after it (1500 s) is checked, between
    # the regular checks at 1200 s (still settling) and 1800 s.
    assert result.migrations == 1
    assert checks[:4] == [600.0, 1200.0, 1500.0, 1800.0]
