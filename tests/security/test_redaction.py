"""Passwords in URLs and query strings never reach a log line or an error page."""

import logging
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import technical_500_response

from automigrate.redact import RedactingFormatter, RedactingServerFormatter, SafeReporterFilter, redact


@pytest.mark.parametrize(("text", "shown"), [
    ("POST /write?db=telegraf&u=boss&p=hunter2 HTTP/1.1", "POST /write?db=telegraf&u=boss&p=*** HTTP/1.1"),
    ("postgres://automigrate:hunter2@db:5432/am", "postgres://automigrate:***@db:5432/am"),
    ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
    ("amqp://user:hunter2@rabbit:5672//", "amqp://user:***@rabbit:5672//"),
    ("host=db password=hunter2 dbname=am", "host=db password=*** dbname=am"),
    ("/api/hosts/?search=a&token=hunter2", "/api/hosts/?search=a&token=***"),
    ("GET /api/hosts/?ordering=name HTTP/1.1", "GET /api/hosts/?ordering=name HTTP/1.1"),
    ("mailto:someone@example.org and http://example.org/x", "mailto:someone@example.org and http://example.org/x"),
])
def test_redact(text, shown):
    assert redact(text) == shown


def make_record(name, msg, *args, exc_info=None):
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)


def test_the_configured_handlers_mask_the_access_log_and_every_other_line():
    server = logging.getLogger("django.server")
    ours = [h for h in server.handlers if isinstance(h.formatter, RedactingServerFormatter)]
    assert len(ours) == 1 and not server.propagate
    line = ours[0].format(make_record(
        "django.server", '"%s" %s %s', "POST /write?db=t&u=telegraf&p=hunter2 HTTP/1.1", "204", "0"))
    assert "p=***" in line and "hunter2" not in line

    # Django's own "django" logger handlers (its plain DEBUG console) would bypass the masking.
    assert logging.getLogger("django").handlers == [] and logging.getLogger("django").propagate
    root_formatters = [type(h.formatter) for h in logging.getLogger().handlers if h.formatter]
    assert RedactingFormatter in root_formatters
    try:
        raise ConnectionError("cannot reach redis://:hunter2@127.0.0.1:6379/0")
    except ConnectionError:
        record = make_record("celery", "broker at %s", "redis://:hunter2@127.0.0.1:6379/0", exc_info=sys.exc_info())
    text = RedactingFormatter("%(message)s").format(record)
    assert "Traceback" in text and "redis://:***@127.0.0.1" in text and "hunter2" not in text


@pytest.mark.django_db
def test_write_logs_no_query_password(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/write?db=telegraf&u=nobody&p=hunter2", "cpu usage_active=1", content_type="text/plain")
    assert caplog.records and "hunter2" not in caplog.text


# Built at run time: the debug page also shows the source lines around each frame, these included.
SECRET = "".join(["sec", "ret-", "4711"])


@pytest.mark.parametrize("debug", [True, False])
def test_the_debug_page_hides_url_passwords_settings_and_query_secrets(settings, debug):
    settings.DEBUG = debug
    settings.CELERY_BROKER_URL = f"redis://:{SECRET}@redis:6379/0"
    settings.AUTOMIGRATE_METRIC_PASSWORD = SECRET
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "INFLUX_TOKEN": SECRET,
                            "METRIC_URL": f"http://reader:{SECRET}@influx:8086"}
    request = RequestFactory().get("/write", {"db": "telegraf", "u": "boss", "p": SECRET},
                                   DATABASE_URL=f"postgres://automigrate:{SECRET}@db:5432/am")

    def fails(password, conn_params):
        raise RuntimeError("boom")

    try:
        fails(SECRET, {"user": "am", "password": SECRET, "dsn": f"host=db password={SECRET}"})
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "CELERY_BROKER_URL" in page and "redis://:***@redis:6379/0" in page
    assert "postgres://automigrate:***@db:5432/am" in page
    assert "AUTOMIGRATE_METRIC_PASSWORD" in page and "INFLUX_TOKEN" in page
    assert "http://reader:***@influx:8086" in page
    assert SECRET not in page


def test_the_filter_is_active_even_under_debug(settings):
    settings.DEBUG = True
    assert SafeReporterFilter().is_active(None)
