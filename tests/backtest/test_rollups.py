"""A backtest past the raw retention: the known day rolled up, its raw samples pruned, replayed from roll-ups."""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from automigrate.models import GuestRollup1m, GuestSample
from automigrate.services import backtest, rollups, storage
from tests.backtest.conftest import DAY, END, START, STEP

pytestmark = pytest.mark.django_db


def roll_up_and_prune() -> None:
    """What beat does: roll everything up (several runs if the budget ends one), then prune."""
    day = GuestSample.objects.filter(time__lt=END).count()
    while rollups.roll_up().ranges:
        pass
    now = timezone.now()
    storage.prune_samples(now)
    # PostgreSQL drops whole daily partitions, so today's stay: delete to each table's cutoff, as SQLite does.
    for model, cutoff in storage.cutoffs(now).items():
        model.objects.filter(time__lt=cutoff).delete()
    # Raw samples are kept only for the raw retention (the longest window, forecast history included,
    # plus the margin: about an hour and a half here): the day's first 22 hours are gone.
    kept_from = now - storage.raw_retention() - timedelta(minutes=2)
    assert not GuestSample.objects.filter(time__lt=kept_from).exists()
    assert GuestSample.objects.filter(time__lt=END).count() < day / 10


def cpu_by_guest(history) -> dict[str, tuple[float, ...]]:
    return {g.name: g.cpu for g in history.trace.guests}


def test_a_pruned_day_is_replayed_whole_from_the_one_minute_roll_ups_with_the_raw_figures(cpu_rule):
    from_raw = backtest.read_history(DAY, None, now=END)  # nothing rolled up yet: all from raw samples
    outcome_raw = backtest.run(cpu_rule, DAY, step_seconds=STEP, now=END)
    assert (from_raw.resolution, from_raw.step_seconds, from_raw.trace.steps) == ("raw", 60, 1440)

    roll_up_and_prune()
    h = backtest.read_history(DAY, None, now=END)
    assert (h.resolution, h.start, h.step_seconds, h.trace.steps, h.skipped_steps) == ("1m", START, 60, 1440, 0)
    assert cpu_by_guest(h) == cpu_by_guest(from_raw)
    hot = cpu_by_guest(h)["vm-hot"]
    # 1-minute steps show each sample: hours 6-10 at 100 %, the rest wobbling around 10 %.
    assert set(hot[360:600]) == {100.0} and set(hot[:360] + hot[600:]) == {8.0, 9.0, 10.0, 11.0, 12.0}
    assert (h.held_steps, h.zero_steps) == (from_raw.held_steps, from_raw.zero_steps) == (10, 10)
    assert any(note.startswith("guest CPU per 1m step from 1-minute roll-ups, the newest minutes from raw")
               for note in h.notes())

    outcome = backtest.run(cpu_rule, DAY, step_seconds=STEP, now=END)
    assert outcome.history.resolution == "5m"  # 5-minute steps read the 5-minute roll-ups
    assert [r.to_dict(series=True) for r in outcome.results] == [r.to_dict(series=True) for r in outcome_raw.results]
    assert {r.policy: r for r in outcome.results}["none"].overload_host_minutes == 240.0


@pytest.fixture
def short_minute_rollups(settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "ROLLUP_1M_RETENTION_DAYS": 0.25}


def test_past_the_one_minute_retention_the_step_is_5_minutes_and_equals_simulate(
    cpu_rule, short_minute_rollups, tmp_path,
):
    roll_up_and_prune()
    assert not GuestRollup1m.objects.filter(time__lt=timezone.now() - timedelta(hours=6, minutes=1)).exists()
    h = backtest.read_history(DAY, None, now=END)  # 1-minute steps would fit in memory, but are not kept
    assert (h.resolution, h.start, h.step_seconds, h.trace.steps) == ("5m", START, STEP, 288)
    guests = cpu_by_guest(h)
    assert set(guests["vm-a"]) == {20.0} and set(guests["vm-hot"][72:120]) == {100.0}
    assert guests["vm-c"][190:198] == (5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 5.0, 5.0)  # the gap rules as from raw
    assert any(note.startswith("guest CPU per 5m step from 5-minute roll-ups") for note in h.notes())

    with pytest.raises(CommandError) as caught:
        call_command("backtest", "day-cpu", "--since", "1d", "--step", "1m", "--until", END.isoformat(),
                     stdout=io.StringIO())
    assert caught.value.returncode == 2 and "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"backtest: --step 1m is finer than the history kept from {START:%Y-%m-%d}")
    assert "5-minute roll-ups" in str(caught.value) and "use --step 5m or more" in str(caught.value)

    path = tmp_path / "history.json"
    common = ("backtest", "day-cpu", "--since", "1d", "--until", END.isoformat())
    call_command(*common, "--export-trace", str(path), stdout=io.StringIO())
    out = io.StringIO()
    call_command(*common, "--json", stdout=out)
    recorded = json.loads(out.getvalue())
    assert recorded["steps"] == 288
    forecast = ["--forecast"] if settings.AUTOMIGRATE.get("FORECAST") else []
    for row in recorded["policies"]:
        out = io.StringIO()
        call_command("simulate", "--trace", str(path), "--policy", row["policy"], "--threshold", "60",
                     "--period", "10m", "--json", *forecast, stdout=out)
        simulated = json.loads(out.getvalue())
        simulated.pop("trace")
        assert simulated == row, row["policy"]
