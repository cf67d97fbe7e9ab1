"""The global migration lock: atomic, leased, released, and contended by real concurrent evaluators."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from automigrate.models import Event, Migration, MigrationBatch, MigrationLock, MigrationRule
from automigrate.services import evaluate, execution, lock
from tests.evaluator.helpers import TwoHotHosts


def new_batch(name="r"):
    return MigrationBatch.objects.create(rule_name=name)


@pytest.mark.django_db
def test_it_gives_the_lock_to_one_batch_until_released():
    first, second = new_batch("a"), new_batch("b")
    assert lock.acquire(first).won
    refused = lock.acquire(second)
    assert not refused.won
    assert refused.previous_batch_id == first.pk
    assert not lock.release(second.pk), "a batch must never release someone else's lock"
    assert lock.holder_batch_id() == first.pk
    assert lock.release(first.pk)
    assert lock.acquire(second).won


@pytest.mark.django_db
def test_it_takes_over_an_expired_lease_and_expires_the_old_batch(two_hot_hosts, settings):
    now = timezone.now()
    old_rule = two_hot_hosts.mem_rule()
    old = MigrationBatch.objects.create(rule=old_rule, rule_name=old_rule.name, started_at=now - timedelta(hours=1))
    waiting = Migration.objects.create(
        guest=two_hot_hosts.big, source=two_hot_hosts.hot_mem, target=two_hot_hosts.spare1, rule=old_rule, batch=old,
    )
    assert lock.acquire(old, now - timedelta(hours=1)).won  # lease of 900 s: long expired now

    result = evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)

    assert result.result == evaluate.MIGRATING
    assert lock.holder_batch_id() == result.batch.pk
    old.refresh_from_db()
    waiting.refresh_from_db()
    assert old.state == MigrationBatch.State.EXPIRED
    assert waiting.state == Migration.State.CANCELLED, "a batch that lost the lock must not start more migrations"
    assert MigrationRule.objects.get(pk=old_rule.pk).last_batch_finished_at == now


@pytest.mark.django_db
def test_a_lease_still_running_is_not_taken_over():
    holder = new_batch("holder")
    now = timezone.now()
    assert lock.acquire(holder, now - timedelta(seconds=899)).won
    assert not lock.acquire(new_batch("other"), now).won


@pytest.mark.django_db
def test_renew_extends_only_the_holders_lease(settings):
    holder = new_batch()
    now = timezone.now()
    lock.acquire(holder, now)
    assert lock.renew(holder.pk, now + timedelta(seconds=600))
    assert MigrationLock.objects.get().lease_expires_at == now + timedelta(seconds=1500)
    assert not lock.renew(holder.pk + 1, now)


@pytest.mark.django_db(transaction=True)
def test_two_evaluators_at_the_same_moment_run_exactly_one_batch(monkeypatch):
    cluster = TwoHotHosts(timezone.now())
    rules = [cluster.cpu_rule(), cluster.mem_rule()]
    # Both threads plan first, then race for the lock together.
    barrier = threading.Barrier(2, timeout=30)
    real_start_batch = execution.start_batch

    def start_batch_together(*args, **kwargs):
        barrier.wait()
        return real_start_batch(*args, **kwargs)

    monkeypatch.setattr(execution, "start_batch", start_batch_together)
    results, errors = {}, []

    def run(rule):
        try:
            results[rule.name] = evaluate.evaluate_rule(rule).result
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(rule,)) for rule in rules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert sorted(results.values()) == [evaluate.MIGRATING, evaluate.SKIP]
    batch = MigrationBatch.objects.get()
    assert lock.holder_batch_id() == batch.pk
    loser = next(name for name, result in results.items() if result == evaluate.SKIP)
    skip = Event.objects.get(action=Event.Action.SKIP)
    assert skip.rule_name == loser
    assert skip.notes["batch"]["id"] == batch.pk
    assert f"batch #{batch.pk} of rule {batch.rule_name}" in skip.summary
    assert not Migration.objects.exclude(batch=batch).exists()
