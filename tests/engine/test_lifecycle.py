import pytest

from automigrate.engine.lifecycle import (
    MIN_MIGRATION_SECONDS,
    admit_within_caps,
    in_cooldown,
    is_bounce_back,
    is_settling,
    migration_seconds,
    migration_timeout_seconds,
)
from automigrate.engine.model import Move
from tests.engine.builders import guest


def mv(name, source, target):
    return Move(name, source, target, 1.0, 1.0, 0, 0, 0, 0, "test")


def test_migration_time_is_proportional_to_memory():
    assert migration_seconds(8192, 100) == pytest.approx(81.92)
    assert migration_seconds(16384, 100) == pytest.approx(2 * 81.92)


def test_migration_time_has_a_floor_for_tiny_guests():
    assert migration_seconds(1, 1000) == MIN_MIGRATION_SECONDS


def test_migration_time_rejects_zero_bandwidth():
    with pytest.raises(ValueError):
        migration_seconds(1024, 0)


def test_migration_timeout_grows_with_memory():
    assert migration_timeout_seconds(0) == 120
    assert migration_timeout_seconds(8192) == 120 + 8 * 60
    assert migration_timeout_seconds(2048, base_seconds=10, seconds_per_gib=5) == 20


def test_a_rule_settles_for_one_full_window_after_a_batch():
    assert is_settling(1000.0, 1000.0 + 119, 120)
    assert not is_settling(1000.0, 1000.0 + 120, 120)
    assert not is_settling(None, 5.0, 120)


def test_cooldown_is_strictly_shorter_than_the_configured_minutes():
    assert in_cooldown(29.9, 30)
    assert not in_cooldown(30, 30)
    assert not in_cooldown(None, 30)


def test_bounce_back_only_to_the_host_just_left_within_cooldown():
    g = guest("g", "b", last_migrated_from="a", minutes_since_migration=10)
    assert is_bounce_back(g, "a", 30)
    assert not is_bounce_back(g, "c", 30)
    assert not is_bounce_back(g, "a", 5)
    assert not is_bounce_back(guest("h", "b"), "a", 30)


def test_admission_counts_source_and_target_per_host():
    moves = [mv("g1", "a", "b"), mv("g2", "a", "c"), mv("g3", "d", "b"), mv("g4", "d", "e")]

    admitted, deferred = admit_within_caps(moves, 0, {}, max_in_flight=10, max_in_flight_per_host=1)

    # g2 shares source a with g1, g3 shares target b with g1; g4 is independent.
    assert [m.guest for m in admitted] == ["g1", "g4"]
    assert [m.guest for m in deferred] == ["g2", "g3"]


def test_admission_respects_moves_already_in_flight_and_the_total_cap():
    moves = [mv("g1", "a", "b"), mv("g2", "c", "d"), mv("g3", "e", "f")]
    in_flight = {"a": 2}

    admitted, deferred = admit_within_caps(moves, 1, in_flight, max_in_flight=2, max_in_flight_per_host=2)

    assert [m.guest for m in admitted] == ["g2"]
    assert [m.guest for m in deferred] == ["g1", "g3"]
    assert in_flight == {"a": 2}  # the caller's dict is not modified


def test_a_rule_is_checked_again_just_after_its_settle_window():
    from automigrate.engine.lifecycle import settle_check_at

    at = settle_check_at(1000.0, 120)
    assert is_settling(1000.0, at - 1.5, 120)
    assert not is_settling(1000.0, at, 120)
    assert at - (1000.0 + 120) < 5, "not a whole period later"
