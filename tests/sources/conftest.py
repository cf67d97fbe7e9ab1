"""Real metric servers for the source tests: one per test, on a free loopback port, data in tmp_path.

A missing binary skips on a developer machine (with the package to install) and
fails in CI (CI=true), where .ci/run installs all three.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.sources import servers

GIB = 1024**3


def require(kind: str) -> None:
    if servers.binary(kind) is None:
        message = f"{servers.BINARIES[kind]} is not installed: apt-get install {servers.DEBIAN_PACKAGES[kind]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run the real servers)")
        pytest.skip(message)


@pytest.fixture(params=servers.KINDS)
def kind(request) -> str:
    require(request.param)
    return request.param


@pytest.fixture
def server(kind, tmp_path):
    running = servers.start(kind, tmp_path / kind)
    yield running
    running.stop()


def configure(settings, kind: str, url: str, **extra) -> None:
    """Point AUTOMIGRATE_METRIC_* at ``url``."""
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE,
        "METRIC_SOURCE": kind,
        "METRIC_URL": url,
        "METRIC_DATABASE": "telegraf",
        "METRIC_USERNAME": "",
        "METRIC_PASSWORD": "",
        "METRIC_TOKEN": "",
        "METRIC_TIMEOUT_SECONDS": 5,
        **extra,
    }


@pytest.fixture
def use_server(settings, server):
    configure(settings, server.kind, server.url)
    return server


@pytest.fixture
def now() -> datetime:
    """A recent whole 10 s: the windows end here, samples fall on multiples of 10 s."""
    stamp = int(time.time()) // 10 * 10 - 60
    return datetime.fromtimestamp(stamp, tz=UTC)


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def cpu_line(host: str, value: float, at: datetime, host_id: str | None = None, cpu: str = "cpu-total") -> str:
    ident = f",host_id={host_id}" if host_id else ""
    return f"cpu,cpu={cpu},host={host}{ident} usage_active={float(value)!r} {stamp(at)}"


def mem_line(host: str, value: int, at: datetime, host_id: str | None = None) -> str:
    ident = f",host_id={host_id}" if host_id else ""
    return f"mem,host={host}{ident} available={int(value)}i {stamp(at)}"


def vm_line(vm_id: str, value: float, at: datetime) -> str:
    return f"vm_cpu,vm_id={vm_id} usage_active={float(value)!r} {stamp(at)}"


def every(now: datetime, seconds: int, step: int = 10) -> list[datetime]:
    """now - seconds, ..., now (both ends), oldest first."""
    return [now - timedelta(seconds=offset) for offset in range(seconds, -1, -step)]


class SlowServer:
    """A tiny HTTP server that waits ``delay`` seconds before answering anything (a stuck metric store)."""

    def __init__(self, delay: float):
        delay_seconds = delay

        class Handler(BaseHTTPRequestHandler):
            def _slow(self):
                time.sleep(delay_seconds)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass

            do_GET = do_POST = _slow

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_server():
    running = SlowServer(delay=4)
    yield running
    running.stop()
