"""No pile-up of idle database connections under the development server; persistent ones elsewhere.

runserver answers each request in a thread of its own, and each thread opens
its own connection: with CONN_MAX_AGE=60 one stayed open per past request
(37 after a burst of logins, until PostgreSQL's max_connections).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.security.servers import ROOT, free_port, runserver

DEAD_POSTGRES = "postgres://automigrate@127.0.0.1:1/automigrate"  # never connected to: settings only


def database_settings(command: str, **env) -> dict:
    code = (
        f"import sys; sys.argv = ['manage.py', {command!r}]; import django; django.setup(); "
        "from django.conf import settings; import json; d = settings.DATABASES['default']; "
        "print(json.dumps({'age': d['CONN_MAX_AGE'], 'health': d['CONN_HEALTH_CHECKS']}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "automigrate.settings", "DATABASE_URL": DEAD_POSTGRES,
                   "DATABASE_CONN_MAX_AGE": "60", **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_development_server_does_not_keep_connections():
    assert database_settings("runserver") == {"age": 0, "health": True}


@pytest.mark.parametrize("command", ["celery", "gunicorn", "evaluate"])
def test_long_lived_processes_keep_health_checked_connections(command):
    assert database_settings(command) == {"age": 60, "health": True}


def server_connections(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        return cursor.fetchone()[0]


def get(url: str) -> int:
    # An unknown session: looked up in the database, then the redirect to the login page.
    headers = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30):
            return 200
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db
def test_runserver_holds_no_idle_connection_after_a_burst(tmp_path):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run this on PostgreSQL (DATABASE_URL)")
        pytest.skip("counts PostgreSQL connections: set DATABASE_URL=postgres://...")
    database = connection.settings_dict
    url = (f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST'] or '127.0.0.1'}:"
           f"{database['PORT'] or 5432}/{database['NAME']}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({"DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "60", "AUTOMIGRATE_VAR_DIR": str(tmp_path),
                "LOG_LEVEL": "WARNING"})
    port = free_port()
    before = server_connections(database["NAME"])
    with runserver(env, port, tmp_path / "runserver.log") as base:
        with ThreadPoolExecutor(8) as pool:  # one thread, so one connection, per request
            statuses = list(pool.map(lambda _: get(f"{base}/"), range(40)))
        assert statuses == [200] * 40
        time.sleep(0.5)
        held = server_connections(database["NAME"]) - before
    assert held <= 1, f"runserver holds {held} idle connections after 40 requests"
