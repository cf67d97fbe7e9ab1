"""One evaluation: the decision, its events (without flooding), recommend mode and approval."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.engine import explain
from automigrate.engine.model import CPU, failure_from_dict
from automigrate.models import Event, Guest, Host, HostSample, Migration, MigrationBatch, MigrationRule
from automigrate.services import evaluate, execution, lock
from automigrate.services.rules import create_rule, update_rule
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples


def actions(rule):
    return list(Event.objects.filter(rule_ref=rule.pk).order_by("id").values_list("action", flat=True))


@pytest.mark.django_db
def test_a_calm_cluster_records_not_triggered_once_not_every_check(two_hot_hosts):
    rule = create_rule({"name": "calm", "metric": CPU, "threshold": 90, "period": "2m"})
    now = two_hot_hosts.now
    for i in range(3):
        result = evaluate.evaluate_rule(rule, now=now + timedelta(seconds=i))
        assert result.result == evaluate.NOT_TRIGGERED
    assert actions(rule) == ["create", "not_triggered"]
    event = Event.objects.get(action=Event.Action.NOT_TRIGGERED)
    assert "no host cpu.usage_active > 90% over 2m (worst: hot-cpu at 65.00%)" in event.summary
    rule.refresh_from_db()
    assert rule.last_result == evaluate.NOT_TRIGGERED
    assert rule.last_evaluated_at == now + timedelta(seconds=2)


@pytest.mark.django_db
def test_not_triggered_is_recorded_again_after_the_rule_changed_state(two_hot_hosts):
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 90, "period": "2m"})
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    update_rule(rule, {"threshold": 95})
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    assert actions(rule) == ["create", "not_triggered", "update", "not_triggered"]


@pytest.mark.django_db
def test_a_host_with_nowhere_to_go_records_find_result_fail_with_the_engines_notes(db):
    now = timezone.now()
    hot = Host.objects.create(name="a15", cpu_count=40, mem_total=256 * GIB)
    other = Host.objects.create(name="test-69", cpu_count=40, mem_total=256 * GIB)
    vm = Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024)
    write_samples(hot, now, cpu=62.3, mem=100 * GIB)
    write_samples(other, now, cpu=55.3, mem=100 * GIB)
    write_guest_samples(vm, now, 99.47)
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "2m"})

    result = evaluate.evaluate_rule(rule, now=now)
    evaluate.evaluate_rule(rule, now=now + timedelta(seconds=1))

    assert result.result == evaluate.FIND_RESULT_FAIL
    fail = Event.objects.get(action=Event.Action.FIND_RESULT_FAIL)
    assert fail.notes["notes"].startswith("not found target for guest cpu-test-vm: [host:test-69:current(55.3")
    assert "guest:cpu-test-vm:score(59.682000) >= threshold(60.000000)" in fail.notes["notes"]
    assert fail.summary.startswith("a15 at 62.30%: not found target for guest cpu-test-vm")
    assert fail.source_host == hot
    assert not Migration.objects.exists()
    assert actions(rule).count("find_result_fail") == 1, "the same failure a second later is not repeated"


@pytest.mark.django_db
def test_a_find_result_fail_event_stores_the_records_beside_the_reference_note(db):
    now = timezone.now()
    hot = Host.objects.create(name="a15", cpu_count=40, mem_total=256 * GIB)
    near = Host.objects.create(name="test-69", cpu_count=40, mem_total=256 * GIB)
    full = Host.objects.create(name="full", cpu_count=80, mem_total=256 * GIB)  # 80 cores: the guest is 29.84 % of it
    vm = Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024)
    write_samples(hot, now, cpu=62.3, mem=100 * GIB)
    write_samples(near, now, cpu=55.3, mem=100 * GIB)
    write_samples(full, now, cpu=1.0, mem=20 * GIB)  # CPU room, but 1 GiB more passes no floor: 10 % of 256 GiB
    write_guest_samples(vm, now, 99.47)
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "2m"})
    evaluate.evaluate_rule(rule, now=now)

    notes = Event.objects.get(action=Event.Action.FIND_RESULT_FAIL).notes
    assert notes["reason"] == "no_target" and notes["not_listed"] == 0 and notes["not_tried"] == 0
    assert [(r["target"], r["limit"], r["reason"], r["unit"]) for r in notes["rejections"]] == [
        ("full", "mem_floor", "under_mem_floor", "bytes"),
        ("test-69", "threshold", "over_threshold", "%"),
    ]
    floor, threshold = notes["rejections"]
    assert (floor["current"], floor["score"], floor["limit_value"]) == (
        pytest.approx(20 * GIB), 1024**3, pytest.approx(25.6 * GIB)
    )
    assert (threshold["current"], threshold["score"], threshold["limit_value"]) == (
        pytest.approx(55.3), pytest.approx(59.682), 60.0
    )
    # The text is still the reference's, and it is exactly what the stored records render to.
    assert notes["notes"].startswith("not found target for guest cpu-test-vm: [host:full:mem.available(")
    assert explain.failure_note(failure_from_dict(notes)) == notes["notes"]


@pytest.mark.django_db
def test_a_repeated_failure_is_recorded_again_after_the_repeat_interval(db, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "DECISION_REPEAT_MINUTES": 10}
    now = timezone.now()
    hot = Host.objects.create(name="only", cpu_count=8, mem_total=64 * GIB)
    write_samples(hot, now + timedelta(minutes=11), cpu=90.0, mem=30 * GIB, seconds=900)
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    evaluate.evaluate_rule(rule, now=now)
    evaluate.evaluate_rule(rule, now=now + timedelta(minutes=5))
    evaluate.evaluate_rule(rule, now=now + timedelta(minutes=11))
    assert actions(rule).count("find_result_fail") == 2


@pytest.mark.django_db
def test_hosts_without_fresh_samples_are_never_targets_and_the_event_says_so(two_hot_hosts):
    # Only a stale spare is left: its samples are older than the window.
    Host.objects.filter(name="spare-2").delete()
    spare = Host.objects.get(name="spare-1")
    stale = [HostSample(host=spare, metric=s.metric, time=two_hot_hosts.now - timedelta(hours=1), value=s.value)
             for s in HostSample.objects.filter(host=spare).order_by("time")]
    HostSample.objects.filter(host=spare).delete()
    HostSample.objects.bulk_create({s.metric: s for s in stale}.values())  # one per metric: a key is unique
    rule = two_hot_hosts.cpu_rule()

    result = evaluate.evaluate_rule(rule, now=two_hot_hosts.now)

    assert result.result == evaluate.FIND_RESULT_FAIL
    assert not Migration.objects.exists()
    event = Event.objects.get(action=Event.Action.FIND_RESULT_FAIL)
    assert event.notes["stale"] == {"hosts": ["spare-1"]}
    assert "no fresh samples in the window, so neither source nor target: hosts spare-1" in event.summary


@pytest.mark.django_db
def test_recommend_mode_records_the_moves_and_executes_nothing_until_approved(two_hot_hosts, staff):
    rule = two_hot_hosts.cpu_rule(mode="recommend")
    now = two_hot_hosts.now
    result = evaluate.evaluate_rule(rule, now=now)
    evaluate.evaluate_rule(rule, now=now + timedelta(seconds=1))

    assert result.result == evaluate.RECOMMEND
    assert not Migration.objects.exists() and lock.holder_batch_id() is None
    recommendation = Event.objects.get(action=Event.Action.RECOMMEND)
    assert [m["move"]["guest"] for m in recommendation.notes["moves"]] == ["busy-vm"]
    assert "recommend 1 move (busy-vm hot-cpu → spare-" in recommendation.summary

    approved = evaluate.approve_recommendation(recommendation, staff, now=now + timedelta(seconds=5))

    assert approved.result == evaluate.MIGRATING
    assert Migration.objects.get().guest.name == "busy-vm"
    assert Event.objects.get(action=Event.Action.APPROVE).user == "boss"
    assert Event.objects.get(action=Event.Action.MIGRATING).user == "boss"
    with pytest.raises(evaluate.ApprovalError, match="already approved"):
        evaluate.approve_recommendation(recommendation, staff)


@pytest.mark.django_db
def test_an_approval_refuses_a_recommendation_whose_guest_has_moved_since(two_hot_hosts, staff):
    rule = two_hot_hosts.cpu_rule(mode="recommend")
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    two_hot_hosts.busy.host = two_hot_hosts.spare1
    two_hot_hosts.busy.save()

    with pytest.raises(evaluate.ApprovalError, match="is out of date: the engine no longer plans"):
        evaluate.approve_recommendation(Event.objects.get(action=Event.Action.RECOMMEND), staff,
                                        now=two_hot_hosts.now)

    assert not Migration.objects.exists() and not Event.objects.filter(action=Event.Action.APPROVE).exists()


@pytest.mark.django_db
def test_an_approval_rechecks_the_targets_against_the_cluster_as_it_is_now(two_hot_hosts, staff):
    rule = two_hot_hosts.cpu_rule(mode="recommend")
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    recommendation = Event.objects.get(action=Event.Action.RECOMMEND)
    # Ten minutes later both spare hosts have become busy: busy-vm (37.5 % of a 64-core host) fits nowhere.
    later = two_hot_hosts.now + timedelta(minutes=10)
    write_samples(two_hot_hosts.hot_cpu, later, cpu=65.0, mem=200 * GIB)
    for spare in (two_hot_hosts.spare1, two_hot_hosts.spare2):
        write_samples(spare, later, cpu=55.0, mem=400 * GIB)
    write_guest_samples(two_hot_hosts.busy, later, 100.0)

    with pytest.raises(evaluate.ApprovalError, match="out of date"):
        evaluate.approve_recommendation(recommendation, staff, now=later)

    assert not Migration.objects.exists()


@pytest.mark.django_db
def test_only_recommend_events_can_be_approved(two_hot_hosts, staff):
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=two_hot_hosts.now)
    with pytest.raises(evaluate.ApprovalError, match="only recommend events"):
        evaluate.approve_recommendation(Event.objects.get(action=Event.Action.MIGRATING), staff)


@pytest.mark.django_db
def test_preview_plans_without_recording_or_executing(two_hot_hosts):
    rule = two_hot_hosts.cpu_rule()
    before = Event.objects.count()
    plan = evaluate.preview_rule(rule, now=two_hot_hosts.now)
    assert [(m.guest, m.source) for m in plan.moves] == [("busy-vm", "hot-cpu")]
    assert Event.objects.count() == before
    assert not Migration.objects.exists()
    assert MigrationRule.objects.get(pk=rule.pk).last_evaluated_at is None


@pytest.mark.django_db
def test_a_rule_that_fires_while_another_batch_migrates_skips_once_per_blocking_batch(two_hot_hosts):
    now = two_hot_hosts.now
    cpu_rule, mem_rule = two_hot_hosts.cpu_rule(), two_hot_hosts.mem_rule()
    first = evaluate.evaluate_rule(cpu_rule, now=now)
    for i in range(3):
        assert evaluate.evaluate_rule(mem_rule, now=now + timedelta(seconds=i)).result == evaluate.SKIP
    assert actions(mem_rule) == ["create", "skip"]
    skip = Event.objects.get(action=Event.Action.SKIP)
    assert skip.notes["reason"] == "lock_busy" and skip.notes["batch"]["id"] == first.batch.pk
    assert skip.notes["would_move"][0]["move"]["guest"] == "big-vm"
    assert evaluate.evaluate_rule(cpu_rule, now=now + timedelta(seconds=3)).result == evaluate.BUSY


@pytest.mark.django_db
def test_a_disabled_rule_is_not_evaluated(two_hot_hosts):
    rule = two_hot_hosts.cpu_rule(enabled=False)
    assert evaluate.evaluate_rule(rule, now=two_hot_hosts.now).result == evaluate.DISABLED
    assert not MigrationBatch.objects.exists()


@pytest.mark.django_db
def test_a_guest_with_a_migration_in_flight_is_not_planned_again(two_hot_hosts):
    now = two_hot_hosts.now
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)
    plan = evaluate.preview_rule(two_hot_hosts.cpu_rule(name="other"), now=now)
    assert not plan.moves
    assert any(s.reason == "migrating" and s.guest == "busy-vm" for s in plan.skipped)
    execution.watch_migrations(now + timedelta(seconds=10))
