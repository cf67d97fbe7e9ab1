"""With the database down, machines get a JSON 503, people a page without passwords, and no log holds one.

Real servers in a subprocess, their database a PostgreSQL URL at a port
where nothing listens: runserver with DEBUG on, as ``make run`` starts it,
and gunicorn with production settings, as the README deploys it.
"""

import base64
import json

from tests.security.servers import (
    BROKER_PASSWORD,
    DB_PASSWORD,
    dead_database_env,
    fetch,
    free_port,
    gunicorn,
    runserver,
)

QUERY_PASSWORD = "query-Secret-1234"
BASIC_PASSWORD = "basic-Secret-5678"


def assert_one_line_json_503(status, headers, body, key):
    assert status == 503, body[:500]
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert list(payload) == [key]
    assert payload[key] == "the database is unavailable: try again shortly"


def machine_requests(base):
    basic = base64.b64encode(f"telegraf:{BASIC_PASSWORD}".encode()).decode()
    yield "detail", fetch(f"{base}/api/hosts/", headers={"Authorization": "Token 0123456789abcdef"})
    yield "detail", fetch(f"{base}/api/rules/", "POST", b'{"name": "x"}',
                          {"Authorization": "Token 0123456789abcdef", "Content-Type": "application/json"})
    yield "error", fetch(f"{base}/write?db=telegraf&u=telegraf&p={QUERY_PASSWORD}", "POST", b"cpu usage_active=1")
    yield "error", fetch(f"{base}/write?db=telegraf", "POST", b"cpu usage_active=1",
                         {"Authorization": f"Basic {basic}"})


def test_runserver_with_debug_on(tmp_path):
    port = free_port()
    log = tmp_path / "runserver.log"
    with runserver(dead_database_env(tmp_path, DEBUG="1"), port, log) as base:
        for key, response in machine_requests(base):
            assert_one_line_json_503(*response, key)
        # A page that needs the database (a session to look up): Django's debug page, as under make run.
        status, _, body = fetch(f"{base}/admin/", headers={"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"})
    page = body.decode()
    assert status == 500 and "OperationalError" in page and "DATABASE_URL" in page and "CELERY_BROKER_URL" in page
    assert "postgres://automigrate:***@127.0.0.1" in page
    assert "redis://:***@127.0.0.1" in page
    for secret in (DB_PASSWORD, BROKER_PASSWORD):
        assert secret not in page
    logged = log.read_text()
    assert "/write?db=telegraf&amp;u=telegraf&amp;p=***" in logged or "/write?db=telegraf&u=telegraf&p=***" in logged
    for secret in (QUERY_PASSWORD, BASIC_PASSWORD, DB_PASSWORD, BROKER_PASSWORD):
        assert secret not in logged


def test_gunicorn_in_production(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = dead_database_env(tmp_path, DEBUG="0", SECRET_KEY="x" * 60, ALLOWED_HOSTS="127.0.0.1",
                            SECURE_SSL_REDIRECT="0")
    with gunicorn(env, port, log) as base:
        for key, response in machine_requests(base):
            assert_one_line_json_503(*response, key)
        status, _, body = fetch(f"{base}/api/no-such-thing/", headers={"Authorization": "Token 0123456789abcdef"})
        assert status == 404 and json.loads(body) == {"detail": "not found: /api/no-such-thing/"}
    logged = log.read_text()
    assert "POST /write?db=telegraf&u=telegraf&p=*** HTTP/1.1" in logged  # the access log has the line ...
    for secret in (QUERY_PASSWORD, BASIC_PASSWORD, DB_PASSWORD, BROKER_PASSWORD):
        assert secret not in logged  # ... and no password
