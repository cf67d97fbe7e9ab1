"""Settle time, cooldown and no-bounce-back over several evaluations on the simulated cluster.

Time is simulated: every 10 s the simulator writes samples and the watcher
polls; every period the rule is evaluated, as beat would do.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.engine.model import CPU
from automigrate.models import Event, Guest, Host, Migration, MigrationBatch
from automigrate.services import evaluate, execution
from automigrate.services.rules import create_rule
from automigrate.simulator import cluster
from tests.evaluator.helpers import GIB

PERIOD = 60
STEP = 10


class Timeline:
    def __init__(self, rule, start):
        self.rule = rule
        self.start = self.now = start
        self.results: list[tuple[int, str]] = []  # (second, evaluation result)
        self.plans = []

    def run_until(self, second: int) -> None:
        while (self.now - self.start).total_seconds() < second:
            self.now += timedelta(seconds=STEP)
            cluster.tick(self.now)
            execution.watch_migrations(self.now)
            elapsed = int((self.now - self.start).total_seconds())
            if elapsed % PERIOD == 0:
                self.rule.refresh_from_db()
                outcome = evaluate.evaluate_rule(self.rule, now=self.now)
                self.results.append((elapsed, outcome.result))
                if outcome.plan is not None:
                    self.plans.append((elapsed, outcome.plan))

    def at(self, second: int) -> str:
        return dict(self.results)[second]


def guest(name, host, vcpus, shape="steady", level=0.0, vmem=1024):
    return Guest.objects.create(name=name, host=host, vcpu_count=vcpus, vmem_size=vmem,
                                workload={"shape": shape, "level": level, "noise": 0})


@pytest.mark.django_db
def test_settle_time_cooldown_and_no_bounce_back_hold_over_several_evaluations():
    a = Host.objects.create(name="a", cpu_count=40, mem_total=256 * GIB)
    b = Host.objects.create(name="b", cpu_count=64, mem_total=512 * GIB)
    c = Host.objects.create(name="c", cpu_count=64, mem_total=512 * GIB)
    guest("s", a, 24, "stress")  # 60 points of a: a ≈ 67.5 %
    guest("w", a, 4, level=50)
    guest("z", a, 24, "idle")  # will be stressed right after s leaves
    guest("b1", b, 8, level=40)
    guest("b2", b, 16, "idle")  # will make b hot while s is in cooldown there
    guest("c1", c, 8, level=60)
    rule = create_rule({"name": "cpu", "metric": CPU, "threshold": 60, "period": f"{PERIOD}s"})
    timeline = Timeline(rule, timezone.now() - timedelta(hours=2))

    # 1. a fires at the first check; s (the smallest guest that alone relieves a) moves to b.
    timeline.run_until(60)
    assert timeline.at(60) == evaluate.MIGRATING
    timeline.run_until(70)
    assert Guest.objects.get(name="s").host == b
    first = MigrationBatch.objects.get()
    assert first.finished_at is not None

    # 2. a is hot again at once (z starts stress-ng), but the rule settles for one full window.
    cluster.set_workload("z", "stress")
    timeline.run_until(120)
    assert timeline.at(120) == evaluate.SETTLING
    settling = Event.objects.filter(action=Event.Action.SKIP, notes__reason="settling")
    assert settling.count() == 1
    timeline.run_until(180)
    assert timeline.at(180) == evaluate.MIGRATING
    second = MigrationBatch.objects.exclude(pk=first.pk).get()
    assert second.started_at >= first.finished_at + timedelta(seconds=PERIOD)
    timeline.run_until(190)
    assert Guest.objects.get(name="z").host == c, "b cannot take 24 busy vCPUs any more; c can"

    # 3. b gets hot while s, which just came from a, is in cooldown there: s stays, b2 moves.
    cluster.set_workload("b2", "stress")
    timeline.run_until(300)
    assert timeline.at(240) == evaluate.SETTLING
    assert timeline.at(300) == evaluate.MIGRATING
    last_plan = timeline.plans[-1][1]
    assert [m.guest for m in last_plan.moves] == ["b2"]
    assert any(s.reason == "cooldown" and s.guest == "s" for s in last_plan.skipped)
    timeline.run_until(420)

    moves = list(Migration.objects.order_by("pk").values_list("guest__name", "source__name", "target__name"))
    assert moves == [("s", "a", "b"), ("z", "a", "c"), ("b2", "b", "a")]
    # Never back to the host a guest just left, and never one guest twice within the cooldown.
    names = [m[0] for m in moves]
    assert len(names) == len(set(names))
    assert all(timeline.at(second) != evaluate.MIGRATING for second in (360, 420))
