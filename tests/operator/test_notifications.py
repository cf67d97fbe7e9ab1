"""Webhooks delivered to a real HTTP receiver on 127.0.0.1: signed, retried on 500, logged; e-mail to staff."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from automigrate import tasks
from automigrate.models import Event, Webhook, WebhookDelivery
from automigrate.services import notify
from automigrate.services.events import record_event

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """A real HTTP server: answers each POST with the next status in ``statuses`` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    servers = []

    def make(statuses=()):
        server = Receiver(statuses)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def eager(settings, monkeypatch):
    """The Celery delivery task runs in this process (its retries too, without their countdown).

    ``apply`` runs a task eagerly whatever app is current (other tests make their own apps).
    """
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "WEBHOOK_MAX_ATTEMPTS": 4, "WEBHOOK_RETRY_BASE_SECONDS": 30}
    monkeypatch.setattr(notify, "_enqueue", lambda ids: [tasks.deliver_webhook.apply(args=[i]) for i in ids])


@pytest.fixture
def by_hand(monkeypatch):
    """No Celery: the test makes each attempt itself."""
    monkeypatch.setattr(notify, "_enqueue", lambda ids: None)


def test_a_chosen_event_is_delivered_with_a_valid_signature(receiver, eager):
    server = receiver()
    Webhook.objects.create(name="ops", url=server.url, actions=["migrate_fail"], secret="s3cret")
    event = record_event(Event.Action.MIGRATE_FAIL, "vm-1 migration h1 → h2 timed out after 120 s", rule_name="r")
    record_event(Event.Action.NOT_TRIGGERED, "calm")  # not chosen: not sent

    assert len(server.requests) == 1
    headers, body = server.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Automigrate-Signature"], expected)
    assert headers["X-Automigrate-Event"] == "migrate_fail"
    sent = json.loads(body)
    assert sent["id"] == event.pk and sent["summary"].endswith("timed out after 120 s")
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.DELIVERED and delivery.attempts == 1 and delivery.last_status == 200


def test_a_500_is_retried_with_back_off_and_the_log_keeps_every_attempt(receiver, eager):
    server = receiver(statuses=[500, 500])
    Webhook.objects.create(name="flaky", url=server.url)  # default actions include find_result_fail
    record_event(Event.Action.FIND_RESULT_FAIL, "h1 at 85%: nothing can move")

    assert len(server.requests) == 3  # 500, 500, then 200
    assert [json.loads(body)["action"] for _, body in server.requests] == ["find_result_fail"] * 3
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.DELIVERED and delivery.attempts == 3


def test_backoff_doubles_and_gives_up_after_the_last_attempt(receiver, settings, by_hand):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "WEBHOOK_MAX_ATTEMPTS": 3, "WEBHOOK_RETRY_BASE_SECONDS": 30}
    server = receiver(statuses=[500, 503, 500])
    hook = Webhook.objects.create(name="down", url=server.url, enabled=True)
    event = record_event(Event.Action.MIGRATE_ERROR, "driver error")
    delivery = WebhookDelivery.objects.get(webhook=hook, event=event)
    assert notify.deliver(delivery.pk) == 30
    assert notify.deliver(delivery.pk) == 60
    assert notify.deliver(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED and delivery.attempts == 3
    assert delivery.last_status == 500 and "HTTP 500" in delivery.last_error


def test_an_unreachable_url_is_an_error_on_the_row_not_a_crash(settings, by_hand):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "WEBHOOK_MAX_ATTEMPTS": 1}
    Webhook.objects.create(name="nowhere", url="http://127.0.0.1:9/hook")
    record_event(Event.Action.MIGRATE_FAIL, "x")
    delivery = WebhookDelivery.objects.get()
    assert notify.deliver(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED and delivery.last_status is None
    assert "Connection refused" in delivery.last_error or "URLError" in delivery.last_error


def test_staff_get_an_email_for_failures_when_switched_on(settings, django_user_model):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "EMAIL_STAFF": True, "EMAIL_ACTIONS": ["migrate_fail"]}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    django_user_model.objects.create_user("admin", email="admin@example.org", is_staff=True)
    django_user_model.objects.create_user("viewer", email="viewer@example.org")
    record_event(Event.Action.MIGRATE_FAIL, "vm-1 failed", rule_name="test-cpu")
    record_event(Event.Action.MIGRATING, "vm-2 migrating")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@example.org"] and "migrate_fail" in mail.outbox[0].subject


def test_the_webhook_api_is_for_staff_and_never_shows_the_secret(client, staff, viewer, by_hand):
    client.force_login(viewer)
    assert client.get("/api/webhooks/").status_code == 403
    client.force_login(staff)
    created = client.post("/api/webhooks/", {"name": "ops", "url": "http://127.0.0.1:1/x", "actions": ["migrate_fail"],
                                              "secret": "k"}, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert "secret" not in created.json() and created.json()["signed"] is True
    bad = client.post("/api/webhooks/", {"name": "bad", "url": "http://127.0.0.1:1/x", "actions": ["explode"]},
                      content_type="application/json")
    assert bad.status_code == 400 and "unknown action(s) explode" in bad.json()["actions"][0]
    log = client.get(f"/api/webhooks/{created.json()['id']}/deliveries/")
    assert log.status_code == 200 and log.json()["results"] == []


def test_conditions_lock_overdue_and_source_down_are_sent_once(receiver, by_hand, make_host):
    from datetime import timedelta

    from django.utils import timezone

    from automigrate.models import MigrationBatch, MigrationLock

    server = receiver()
    hook = Webhook.objects.create(name="pager", url=server.url, actions=["lock_overdue", "source_down"])
    Webhook.objects.create(name="events-only", url=server.url)  # default actions: no conditions
    make_host("quiet-host")  # enabled, but no samples at all: the source is down
    now = timezone.now()
    batch = MigrationBatch.objects.create(rule_name="r", started_at=now - timedelta(hours=1))
    MigrationLock.objects.filter(pk=MigrationLock.SINGLETON_ID).update(
        batch=batch, holder="r", acquired_at=now - timedelta(hours=1), lease_expires_at=now - timedelta(minutes=5))

    first = notify.check_conditions(now)
    assert sorted(d.action for d in first) == ["lock_overdue", "source_down"]
    assert all(d.webhook == hook for d in first)
    assert notify.check_conditions(now + timedelta(seconds=60)) == []  # the same occurrence: not again
    for delivery in first:
        assert notify.deliver(delivery.pk) is None
    bodies = sorted(json.loads(body)["action"] for _, body in server.requests)
    assert bodies == ["lock_overdue", "source_down"]
    lock_body = next(json.loads(b) for _, b in server.requests if b"lock_overdue" in b)
    assert f"batch #{batch.pk}" in lock_body["summary"] and "past its lease" in lock_body["summary"]


def test_events_written_together_by_an_evaluation_reach_the_webhooks_too(two_hot_hosts, settings, by_hand):
    """An evaluation writes its find_result_fail events in one INSERT (no post_save): still delivered."""
    from automigrate.models import Host
    from automigrate.services import evaluate

    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "MAX_IN_FLIGHT": 0}
    Webhook.objects.create(name="ops", url="http://127.0.0.1:9/hook", actions=["find_result_fail"])
    Host.objects.exclude(name="hot-cpu").update(enabled=False)  # nowhere to go: the rule finds nothing
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=two_hot_hosts.now)
    failures = Event.objects.filter(action="find_result_fail")
    assert failures.exists()
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == set(failures.values_list("pk", flat=True))
