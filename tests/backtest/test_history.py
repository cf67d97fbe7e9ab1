"""The history a backtest replays: samples pushed through /write, resampled, gaps, placement walked back."""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from automigrate.models import Migration
from automigrate.services import backtest
from automigrate.simulator.traces import read_trace
from tests.backtest.conftest import END, START, STEP

pytestmark = pytest.mark.django_db


def history():
    return backtest.read_history(86400, STEP, now=END)


def test_the_day_becomes_288_steps_of_5_minutes_with_each_step_the_mean_of_its_samples(known_day):
    h = history()
    assert (h.start, h.end, h.trace.steps, h.trace.step_seconds) == (START, END, 288, STEP)
    guests = {g.name: g for g in h.trace.guests}
    assert sorted(guests) == ["vm-a", "vm-b", "vm-c", "vm-hot", "vm-moved"]
    # Five samples 18, 22, 20, 19, 21 per step: each step is their mean, 20.
    assert set(guests["vm-a"].cpu) == {20.0}
    hot = guests["vm-hot"].cpu
    assert hot[71] == 10.0 and set(hot[72:120]) == {100.0} and hot[120] == 10.0
    assert (guests["vm-moved"].vcpu_count, guests["vm-moved"].vmem_size) == (2, 2048)
    assert {h.name: (h.cpu_count, h.mem_total) for h in h.trace.hosts} == {
        name: (8, 64 * 1024**3) for name in ("h1", "h2", "h3")
    }


def test_a_short_gap_repeats_the_last_value_a_longer_one_counts_as_zero(known_day):
    h = history()
    vm_c = next(g for g in h.trace.guests if g.name == "vm-c").cpu
    # Silent for 20 minutes from hour 16 (steps 192-195): 10 minutes held, then 0 %.
    assert vm_c[190:198] == (5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 5.0, 5.0)
    assert (h.held_steps, h.zero_steps, h.empty_steps) == (2, 2, 0)
    assert any("2 of 1440 guest-steps" in note for note in h.notes())


def test_the_start_placement_walks_back_the_successful_migrations_since_the_start(known_day):
    h = history()
    placement = {g.name: g.host for g in h.trace.guests}
    # vm-moved runs on h2 now; it came from h1 at hour 12: the day starts with it on h1.
    # The failed attempt from h3 moved nothing, so it is not walked back.
    assert placement == {"vm-hot": "h1", "vm-a": "h1", "vm-moved": "h1", "vm-b": "h2", "vm-c": "h3"}
    assert (h.migrations_walked_back, h.migrations_inconsistent) == (1, 0)


def test_migrations_before_the_window_are_not_walked_back(known_day):
    # A 6-hour window ending at the day's end starts after hour 12's migration.
    h = backtest.read_history(6 * 3600, STEP, now=END)
    assert {g.name: g.host for g in h.trace.guests}["vm-moved"] == "h2"
    assert h.migrations_walked_back == 0


def test_a_chain_of_moves_walks_back_to_the_first_source(known_day):
    h1, h2, h3 = known_day["hosts"]
    vm_a = h1.guests.get(name="vm-a")
    # vm-a went h1 -> h3 -> h2 during the day; the inventory moved with it.
    for source, target, hour in ((h1, h3, 14), (h3, h2, 18)):
        at = START + timedelta(hours=hour)
        Migration.objects.create(guest=vm_a, source=source, target=target, state=Migration.State.SUCCEEDED,
                                 requested_at=at, started_at=at, finished_at=at)
    vm_a.host = h2
    vm_a.save()
    h = history()
    assert {g.name: g.host for g in h.trace.guests}["vm-a"] == "h1"
    assert h.migrations_walked_back == 3


def test_without_the_rule_the_hot_hours_are_the_overload_and_with_it_less(cpu_rule):
    outcome = backtest.run(cpu_rule, 86400, step_seconds=STEP, now=END)
    rows = {r.policy: r for r in outcome.results}
    assert set(rows) >= {"automigrate", "classic", "none"}
    # Only because vm-moved starts on h1: four hours of h1 at 72.5 %.
    assert rows["none"].overload_host_minutes == 240.0
    assert rows["none"].hosts_over_threshold[72:120] == (1,) * 48
    assert sum(rows["none"].hosts_over_threshold) == 48
    assert rows["automigrate"].migrations >= 1
    assert rows["automigrate"].overload_host_minutes < 240.0
    for r in outcome.results:
        assert sum(r.hosts_over_threshold) * STEP / 60 == r.overload_host_minutes


def test_the_recorded_result_equals_simulate_on_the_exported_trace(cpu_rule, tmp_path):
    """The issue's check: backtest = `simulate --trace` on the same data exported as JSON, for every policy."""
    path = tmp_path / "history.json"
    out = io.StringIO()
    call_command("backtest", "day-cpu", "--since", "1d", "--step", "5m", "--until", END.isoformat(),
                 "--export-trace", str(path), stdout=out)
    assert read_trace(path).steps == 288
    out = io.StringIO()
    call_command("backtest", "day-cpu", "--since", "1d", "--step", "5m", "--until", END.isoformat(), "--json",
                 stdout=out)
    recorded = json.loads(out.getvalue())
    assert len(recorded["policies"]) == len(backtest.replayer.POLICIES)
    for row in recorded["policies"]:
        out = io.StringIO()
        forecast = ["--forecast"] if settings.AUTOMIGRATE.get("FORECAST") else []  # as live, as the backtest
        call_command("simulate", "--trace", str(path), "--policy", row["policy"], "--threshold", "60",
                     "--period", "10m", "--json", *forecast, stdout=out)
        simulated = json.loads(out.getvalue())
        assert simulated.pop("trace") == str(path)
        assert simulated == row, row["policy"]
    assert recorded["hosts_over_threshold"]["none"][72:120] == [1] * 48


def test_a_rules_target_list_and_pinned_guests_reach_the_replay(cpu_rule, known_day):
    h1, _, h3 = known_day["hosts"]
    cpu_rule.target_hosts.set([h3])
    guest = h1.guests.get(name="vm-hot")
    guest.labels = ["pinned"]
    guest.save()
    outcome = backtest.run(cpu_rule, 86400, policies=["automigrate"], step_seconds=STEP, now=END)
    scope = backtest.scope_for(cpu_rule, outcome.history)
    assert scope.target_hosts == frozenset({"h3"})
    assert "vm-hot" not in scope.source_guests and "vm-a" in scope.source_guests
    assert any("pinned" in note for note in outcome.notes)


def test_a_window_without_guest_samples_is_one_clear_error(cpu_rule):
    with pytest.raises(backtest.BacktestError, match="no guest CPU samples"):
        backtest.read_history(3600, STEP, now=START - timedelta(days=1))


def test_a_window_longer_than_the_history_starts_at_the_first_sample_and_says_so(known_day):
    h = backtest.read_history(2 * 86400, STEP, now=END)
    assert (h.start, h.trace.steps, h.skipped_steps) == (START, 288, 288)
    assert h.notes()[0].startswith(f"no guest sample before {START:%Y-%m-%d %H:%M} UTC: the window starts there, 1d")
    assert {g.name: g.host for g in h.trace.guests}["vm-moved"] == "h1"  # walked back from the real start


class StoreLikeSource:
    """An external store's side of the interface: window means only, no tables of ours (the database's answers)."""

    reads_our_tables = False
    asked: list = []
    fail_at: int | None = None

    def describe(self):
        return "metric source test-store"

    def guest_means(self, since, until, guest_ids=None):
        from automigrate.sources.base import SourceError
        from automigrate.sources.database import guest_window_means

        self.asked.append((since, until))
        if self.fail_at is not None and len(self.asked) > self.fail_at:
            raise SourceError("metric source test-store did not answer in 5 s")
        return guest_window_means(since, until, guest_ids)


@pytest.fixture
def store(monkeypatch):
    StoreLikeSource.asked = []
    StoreLikeSource.fail_at = None
    monkeypatch.setattr(backtest, "source_class", lambda: StoreLikeSource)
    monkeypatch.setattr(backtest, "get_source", StoreLikeSource)
    return StoreLikeSource


def test_an_external_store_is_asked_once_per_step_for_every_guest(known_day, store):
    h = history()
    assert len(store.asked) == 288 and store.asked[0] == (START, START + timedelta(seconds=STEP))
    guests = {g.name: g.cpu for g in h.trace.guests}
    # A store's windows are (t, t + 5 min]: the same five wobbling samples, so the level again,
    # except the last step, whose fifth sample would be at the end of the day (never sent).
    assert set(guests["vm-a"][:-1]) == {20.0} and guests["vm-a"][-1] == 20.5
    assert set(guests["vm-hot"][72:119]) == {100.0}
    assert {g.name: g.host for g in h.trace.guests}["vm-moved"] == "h1"


def test_a_store_that_stops_answering_ends_the_backtest_in_one_line(known_day, store):
    store.fail_at = 10
    with pytest.raises(backtest.BacktestError) as caught:
        history()
    assert str(caught.value) == ("metric source test-store did not answer in 5 s: no history read"
                                 " (stopped at step 11 of 288)")
