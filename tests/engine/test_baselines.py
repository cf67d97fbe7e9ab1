"""The published baselines, on examples worked by hand from the papers' rules; and the registry."""

import pytest

from automigrate.engine import plan
from automigrate.engine.baselines import volume
from automigrate.engine.registry import POLICIES, REGISTRY, get_policy
from tests.engine.builders import cpu_rule, guest, host, snap

HOST_MEM_GIB = 256


def points(name, on, pts, mem_gib, vcpus=4, host_cores=40, **kw):
    return guest(name, on, pts * host_cores / vcpus, vcpus=vcpus, mem_mb=int(mem_gib * 1024), **kw)


def test_every_policy_is_a_registered_class_with_a_description():
    assert POLICIES == ("automigrate", "classic", "mmt", "sandpiper")
    for name, cls in REGISTRY.items():
        assert cls.name == name
        assert cls.description and "\n" not in cls.description
    with pytest.raises(ValueError, match="unknown policy 'greedy': use one of automigrate, classic, mmt, sandpiper"):
        get_policy("greedy")


# --- MMT (Beloglazov & Buyya 2012) ---------------------------------------------


def mmt_case():
    # 80 % on 40 cores, threshold 60. By memory: d 1 GiB (2 points), a 2 GiB (5), b 4 GiB (15), c 8 GiB (20).
    # MMT takes the smallest until the host is no longer overloaded: d (78), a (73), b (58): stop.
    hosts = [host("h", 80.0), host("t1", 10.0), host("t2", 30.0)]
    guests = [points("c", "h", 20, 8), points("b", "h", 15, 4), points("a", "h", 5, 2), points("d", "h", 2, 1)]
    return snap(hosts, guests)


def test_mmt_moves_the_smallest_guests_until_the_host_is_no_longer_overloaded():
    result = plan(mmt_case(), cpu_rule(60), "mmt")
    assert sorted(m.guest for m in result.moves) == ["a", "b", "d"]
    assert result.hosts_after["h"] == pytest.approx(58.0)


def test_mmt_places_the_selected_guests_highest_cpu_first_on_the_least_loaded_target():
    # PABFD order: b (15 points), a (5), d (2); least loaded that fits: b -> t1 (10 -> 25),
    # then t1 is at 25 and t2 at 30: a -> t1 (30); then both at 30, name order: d -> t1.
    result = plan(mmt_case(), cpu_rule(60), "mmt")
    assert [(m.guest, m.target) for m in result.moves] == [("b", "t1"), ("a", "t1"), ("d", "t1")]


def test_mmt_keeps_the_safety_filters():
    # d is pinned and a in cooldown: MMT's next smallest is b (80 - 15 = 65, still over), then c.
    hosts = [host("h", 80.0), host("t1", 10.0, cpu_count=80, mem_gib=250)]
    guests = [points("c", "h", 20, 8), points("b", "h", 15, 4), points("a", "h", 5, 2, minutes_since_migration=3),
              points("d", "h", 2, 1, labels={"pinned"})]
    result = plan(snap(hosts, guests), cpu_rule(60), "mmt")
    assert sorted(m.guest for m in result.moves) == ["b", "c"]
    reasons = {s.guest: s.reason for s in result.skipped if s.guest}
    assert reasons == {"a": "cooldown", "d": "pinned"}


def test_mmt_has_no_per_host_cap():
    hosts = [host("h", 95.0), host("t", 0.0, cpu_count=400, mem_gib=250)]
    guests = [points(f"g{i}", "h", 3, 1) for i in range(12)]
    # 95 - 3 x 12 = 59: all twelve, where automigrate stops at max_moves_per_host (5).
    assert len(plan(snap(hosts, guests), cpu_rule(60), "mmt").moves) == 12


# --- Sandpiper (Wood et al. 2007) ----------------------------------------------


def test_volume_is_the_papers_formula():
    assert volume(0.5, 0.5) == pytest.approx(4.0)
    assert volume(0.9, 0.0, 0.5) == pytest.approx(20.0)
    assert volume(0.0, 0.0) == 1.0
    assert volume(1.0, 0.0) > 1e5  # saturated: the hottest, not a division by zero


def sandpiper_case():
    # Two hot hosts: h1 90 % CPU, half its memory used: volume 1/(0.1 x 0.5) = 20;
    # h2 70 % CPU, 90 % memory used: 1/(0.3 x 0.1) = 33.3, hotter by volume although cooler by CPU.
    # Targets: t1 20 % CPU, 80 % memory used: 1/(0.8 x 0.2) = 6.25; t2 40 % CPU, 10 % used: 1/(0.6 x 0.9) = 1.85.
    hosts = [
        host("h1", 90.0, mem_gib=128), host("h2", 70.0, mem_gib=25.6),
        host("t1", 20.0, mem_gib=51.2), host("t2", 40.0, mem_gib=230.4),
    ]
    # On h2: g1 4 GiB, 10 points: volume 1/(0.9 x (1 - 4/256)) = 1.129, VSR 0.282 per GiB;
    #        g2 16 GiB, 15 points: 1/(0.85 x (1 - 16/256)) = 1.255, VSR 0.078 per GiB.
    guests = [points("g1", "h2", 10, 4), points("g2", "h2", 15, 16), points("k1", "h1", 15, 4)]
    return snap(hosts, guests)


def test_sandpiper_starts_with_the_hottest_volume_and_the_highest_volume_to_size_guest():
    result = plan(sandpiper_case(), cpu_rule(60), "sandpiper")
    first = result.moves[0]
    assert (first.source, first.guest) == ("h2", "g1")
    # The least loaded target is the lowest volume (t2), although t1 has less CPU load.
    assert first.target == "t2"
    # h2 at 60 is no longer overloaded (> 60): g2 stays.
    assert "g2" not in [m.guest for m in result.moves]


def test_sandpiper_then_relieves_the_next_hot_host():
    result = plan(sandpiper_case(), cpu_rule(60), "sandpiper")
    assert [(m.source, m.guest) for m in result.moves] == [("h2", "g1"), ("h1", "k1")]
    # t2 after g1 (50 % CPU, 88.4 % free: volume 2.26) is still the lowest volume, but 50 + 15 = 65 > 60
    # does not fit; the next lowest volume that fits is t1 (20 -> 35).
    assert result.moves[1].target == "t1"
    assert result.hosts_after["h1"] == pytest.approx(75.0)  # still over: Sandpiper had nothing else to move
