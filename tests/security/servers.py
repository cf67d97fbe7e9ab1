"""The real web servers (runserver, gunicorn) in a subprocess, for what only they log or show."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_PASSWORD = "db-Secret-4711"
BROKER_PASSWORD = "broker-Secret-0815"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_database_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The product's environment with a PostgreSQL URL (with a password) at a closed port: the database is down."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({
        "DATABASE_URL": f"postgres://automigrate:{DB_PASSWORD}@127.0.0.1:{free_port()}/automigrate",
        "CELERY_BROKER_URL": f"redis://:{BROKER_PASSWORD}@127.0.0.1:{free_port()}/0",
        "AUTOMIGRATE_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@contextmanager
def server(command: list[str], env: dict[str, str], port: int, log_path: Path):
    """Start a server, wait until it answers, yield its base URL; stop it and close its log after."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{command[:3]} did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# runserver refuses to start while the database is down (it checks for unapplied
# migrations first); the database going down while it runs is the case to test.
_RUNSERVER_DATABASE_LATER = (
    "import sys; from django.core.management.commands import runserver; "
    "runserver.Command.check_migrations = lambda self: None; "
    "from django.core.management import execute_from_command_line; execute_from_command_line(sys.argv)"
)


def runserver(env: dict[str, str], port: int, log_path: Path):
    env = {**env, "DJANGO_SETTINGS_MODULE": "automigrate.settings"}
    return server([sys.executable, "-c", _RUNSERVER_DATABASE_LATER, "runserver", f"127.0.0.1:{port}", "--noreload",
                   "--skip-checks"], env, port, log_path)


def gunicorn(env: dict[str, str], port: int, log_path: Path):
    return server([str(Path(sys.executable).parent / "gunicorn"), "automigrate.wsgi", "--bind", f"127.0.0.1:{port}",
                   "--workers", "1", "--access-logfile", "-"], env, port, log_path)


def fetch(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
