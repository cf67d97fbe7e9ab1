"""Benchmark: points per second through POST /write into PostgreSQL, against a bare COPY of the same rows.

Usage (PostgreSQL must be up; a separate database is created and migrated):

    .venv/bin/python bench/ingest.py [--batches 20] [--lines 5000]
    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/ingest.py

Each batch is telegraf-like line protocol for 500 hosts: per host one
`cpu,cpu=cpu-total` line (usage_active + 2 ignored fields) and one `mem` line
(available + 1 ignored field); one line = one point = one stored sample.

Measured, each into an emptied sample table (same indexes every time):

- http/token: a real HTTP server (`manage.py runserver --noreload`, Django's
  threaded dev server, in a subprocess, DEBUG off) and a keep-alive `requests` session,
  `Authorization: Token`; one batch after another. Includes HTTP, auth,
  parsing, host lookup and the COPY.
- http/basic: the same with Basic auth (the credential cache keeps PBKDF2 to
  the first request).
- wsgi: Django's test client over the WSGI app in this process (no network).
- COPY: psycopg2 copy_expert of the same rows, already as tab-separated text,
  one COPY and commit per batch: the floor for storing them.

Aim: at least 20,000 points/s through /write and within 3x of COPY.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from benchdb import ROOT, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/automigrate_bench_ingest"
HOSTS = 500
USER, PASSWORD = "bench-telegraf", "bench-telegraf-pass-123"


def setup(url: str) -> str:
    """Migrate, register the hosts and a writer account; returns the writer's API token."""
    setup_django(url)
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from automigrate.models import Host
    from automigrate.permissions import OPERATORS_GROUP

    Host.objects.bulk_create(
        [Host(name=f"bench-{i:04d}", cpu_count=64, mem_total=512 * 1024**3) for i in range(HOSTS)],
        ignore_conflicts=True,
    )
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username=USER)
    if created:
        user.set_password(PASSWORD)
        user.save()
        user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    return Token.objects.get_or_create(user=user)[0].key


def make_batches(count: int, lines: int) -> list[str]:
    # Recent: ingest refuses samples older than the retention.
    start = int(time.time()) - 3 * 86400
    batches = []
    for b in range(count):
        out = []
        for i in range(lines):
            host = f"bench-{(i // 2) % HOSTS:04d}"
            stamp = (start + b * 10 + i // (2 * HOSTS)) * 1_000_000_000
            if i % 2 == 0:
                out.append(f"cpu,cpu=cpu-total,host={host} usage_active={(i * 7) % 100 + 0.5},usage_idle=50,"
                           f"usage_system=3.25 {stamp}")
            else:
                out.append(f"mem,host={host} available={(i * 7919) % 10**11}i,used_percent=40.5 {stamp}")
        batches.append("\n".join(out) + "\n")
    return batches


def truncate() -> None:
    from django.db import connection

    from automigrate.models import HostSample

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {HostSample._meta.db_table}")


def stored() -> int:
    from automigrate.models import HostSample

    return HostSample.objects.count()


def copy_rows(batches: list[str]) -> list[str]:
    """The same samples as COPY text, converted before timing."""
    from automigrate.models import Host

    ids = dict(Host.objects.values_list("name", "pk"))
    converted = []
    for batch in batches:
        buffer = io.StringIO()
        for line in batch.splitlines():
            head, fields, stamp = line.split(" ")
            measurement, *tags = head.split(",")
            host = ids[dict(t.split("=") for t in tags)["host"]]
            first = fields.split(",")[0].split("=")[1].rstrip("i")
            metric = "cpu.usage_active" if measurement == "cpu" else "mem.available"
            at = datetime.fromtimestamp(int(stamp) / 1e9, tz=UTC).isoformat()
            buffer.write(f"{host}\t{metric}\t{at}\t{first}\n")
        converted.append(buffer.getvalue())
    return converted


def bench_copy(rows: list[str]) -> float:
    from django.db import connection, transaction

    from automigrate.models import HostSample

    sql = f"COPY {HostSample._meta.db_table} (host_id, metric, time, value) FROM STDIN"
    began = time.perf_counter()
    for text in rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(sql, io.StringIO(text))
    return time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # Production-like: DEBUG off (no query log), plain HTTP on loopback.
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "DEBUG": "0", "SECRET_KEY": "bench-only-key",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(100):
        try:
            requests.get(f"{base}/ping", timeout=1)
            return server, base
        except requests.ConnectionError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the dev server did not start")


def bench_http(base: str, batches: list[str], headers: dict[str, str]) -> float:
    import requests

    session = requests.Session()
    url = f"{base}/write?db=telegraf"
    # One warm-up request (first DB connection, the credential check) outside the timing.
    session.post(url, data=b"", headers=headers).raise_for_status()
    began = time.perf_counter()
    for body in batches:
        response = session.post(url, data=body.encode(), headers=headers)
        if response.status_code != 204:
            raise SystemExit(f"/write answered {response.status_code}: {response.text[:300]}")
    elapsed = time.perf_counter() - began
    session.close()
    return elapsed


def bench_wsgi(batches: list[str], token: str) -> float:
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    began = time.perf_counter()
    for body in batches:
        response = client.generic("POST", "/write?db=telegraf", body.encode(), HTTP_AUTHORIZATION=f"Token {token}")
        if response.status_code != 204:
            raise SystemExit(f"/write answered {response.status_code}: {response.content[:300]!r}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="each path is timed this many times; the median counts")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    token = setup(url)
    batches = make_batches(args.batches, args.lines)
    points = args.batches * args.lines
    rows = copy_rows(batches)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def timed(name: str, run) -> float:
        """Median of --rounds runs, each into an empty table, each checked for every point stored."""
        times = []
        for _ in range(args.rounds):
            truncate()
            times.append(run())
            assert stored() == points, f"{name}: {stored()} stored of {points}"
        truncate()
        return statistics.median(times)

    results: dict[str, float] = {}
    results["COPY (floor)"] = timed("COPY", lambda: bench_copy(rows))
    server, base = start_server(url)
    try:
        for name, headers in (("http/token", {"Authorization": f"Token {token}"}),
                              ("http/basic", {"Authorization": f"Basic {basic}"})):
            results[name] = timed(name, lambda headers=headers: bench_http(base, batches, headers))
    finally:
        server.terminate()
        server.wait()
    results["wsgi (in process)"] = timed("wsgi", lambda: bench_wsgi(batches, token))

    floor = results["COPY (floor)"]
    print(f"{args.batches} batches x {args.lines} lines = {points} points, {HOSTS} hosts, PostgreSQL {url};"
          f" median of {args.rounds} rounds")
    print(f"{'path':<20}{'seconds':>9}{'points/s':>12}{'ms/batch':>10}{'x COPY':>8}")
    for name, seconds in results.items():
        print(f"{name:<20}{seconds:>9.2f}{points / seconds:>12,.0f}{1000 * seconds / args.batches:>10.1f}"
              f"{seconds / floor:>8.2f}")


if __name__ == "__main__":
    main()
