"""Benchmark: PostgreSQL connections a web server holds after a burst of logins.

Usage (PostgreSQL must be up; the database is created and migrated):

    .venv/bin/python bench/connections.py [--logins 50] [--concurrency 10] [--root /path/to/a/checkout]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/am_bench_conn .venv/bin/python bench/connections.py

For each server -- `manage.py runserver` as `make run` starts it, and gunicorn
(2 workers) as the README deploys it -- with DATABASE_CONN_MAX_AGE=60: count
the server's connections in pg_stat_activity before the burst, right after it
and 5 s later. runserver answers each request in a new thread, which opens its
own connection; persistent, those stay open after their thread has ended.
`--root` runs another checkout's code (e.g. main before this change) for the
before/after figures.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchdb import ROOT, ensure_database

USER, PASSWORD = "bench-conn", "bench-conn-pass-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def count_connections(url: str, name: str) -> int:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        (count,) = cursor.fetchone()
    connection.close()
    return count


def log_in(base: str) -> int:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=60).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    data = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
    login = f"{base}/accounts/login/"
    request = urllib.request.Request(login, data=data, headers={"Referer": login})
    with opener.open(request, timeout=60) as response:
        return response.status


def wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def measure(kind: str, root: Path, url: str, name: str, logins: int, concurrency: int) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "60", "LOG_LEVEL": "WARNING",
           "AUTOMIGRATE_VAR_DIR": str(root / "var" / "bench-connections"), "PYTHONPATH": str(root)}
    python = sys.executable
    if kind == "runserver":
        command = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    else:
        command = [str(Path(python).parent / "gunicorn"), "automigrate.wsgi", "--bind", f"127.0.0.1:{port}",
                   "--workers", "2", "--threads", "4"]
    before = count_connections(url, name)
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, process)
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(lambda _: log_in(f"http://127.0.0.1:{port}"), range(logins)))
        seconds = time.perf_counter() - started
        after = count_connections(url, name)
        time.sleep(5)
        later = count_connections(url, name)
    finally:
        process.terminate()
        process.wait(timeout=20)
    ok = sum(status == 200 for status in statuses)
    print(f"{kind:9s} {logins} logins ({ok} ok, {concurrency} at a time, {seconds:.1f} s): "
          f"connections before {before}, right after {after}, 5 s later {later}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code serves")
    parser.add_argument("--servers", default="runserver,gunicorn")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/am_bench_connections")
    name = url.rsplit("/", 1)[1].split("?")[0]
    ensure_database(url)
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(args.root),
           "AUTOMIGRATE_VAR_DIR": str(args.root / "var" / "bench-connections")}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=args.root, env=env, check=True)
    create = (f"from django.contrib.auth.models import User; User.objects.filter(username={USER!r}).delete(); "
              f"User.objects.create_user({USER!r}, password={PASSWORD!r})")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=args.root, env=env, check=True)
    print(f"code: {args.root}")
    for kind in args.servers.split(","):
        measure(kind, args.root, url, name, args.logins, args.concurrency)


if __name__ == "__main__":
    main()
