"""Real InfluxDB 1.x, VictoriaMetrics and Prometheus servers for tests and benchmarks.

Each runs from Debian's package binary on a free loopback port with its data in
a temporary folder, and is fed telegraf-shaped data through its own write path:
InfluxDB and VictoriaMetrics take line protocol at ``/write``, Prometheus takes
remote write (protobuf + snappy, ``--web.enable-remote-write-receiver``; the
message types come from the OpenTelemetry remote-write exporter package, the
compression from python-snappy).

``start(kind, folder, auth=None)`` returns a running ``Server``; ``stop()`` ends it.
Used by ``tests/sources/conftest.py`` and ``bench/sources.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

BINARIES = {"influxdb": "influxd", "victoriametrics": "victoria-metrics", "prometheus": "prometheus"}
KINDS = tuple(BINARIES)
DEBIAN_PACKAGES = {"influxdb": "influxdb", "victoriametrics": "victoria-metrics", "prometheus": "prometheus"}
# A bcrypt hash (cost 4, fast on purpose) of PROMETHEUS_PASSWORD, for Prometheus' --web.config.file.
PROMETHEUS_USER = "automigrate"
PROMETHEUS_PASSWORD = "right-password"
PROMETHEUS_HASH = "$2b$04$xoeEUH/YN11/si88yNqKtuORrN/o6nQ00DMNJWXCCAMoX18Mhow3m"
TIMEOUT = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary(kind: str) -> str | None:
    return shutil.which(BINARIES[kind])


@dataclass
class Server:
    kind: str
    url: str
    folder: Path
    process: subprocess.Popen
    auth: tuple[str, str] | None = None
    database: str = "telegraf"
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        if self.auth:
            self.session.auth = self.auth

    # --- writing ------------------------------------------------------------

    def write_lines(self, lines: list[str]) -> None:
        """Line protocol with second timestamps, through the server's own write path."""
        if self.kind == "prometheus":
            self.remote_write(lines)
            return
        body = "\n".join(lines).encode()
        params = {"precision": "s"}
        if self.kind == "influxdb":
            params["db"] = self.database
        chunk = 5000
        for start in range(0, len(lines), chunk):
            part = "\n".join(lines[start:start + chunk]).encode() if len(lines) > chunk else body
            answer = self.session.post(f"{self.url}/write", params=params, data=part, timeout=60)
            answer.raise_for_status()
        if self.kind == "victoriametrics":
            self.session.get(f"{self.url}/internal/force_flush", timeout=TIMEOUT).raise_for_status()

    def remote_write(self, lines: list[str]) -> None:
        """The same points as Prometheus remote write: one series per measurement_field and tag set."""
        import snappy
        from line_protocol_parser import parse_line
        from opentelemetry.exporter.prometheus_remote_write.gen.remote_pb2 import WriteRequest

        series: dict[tuple, list[tuple[int, float]]] = {}
        for line in lines:
            point = parse_line(line)
            for name, value in point["fields"].items():
                labels = (("__name__", f"{point['measurement']}_{name}"), *sorted(point["tags"].items()))
                series.setdefault(labels, []).append((point["time"] * 1000, float(value)))
        items = list(series.items())
        for start in range(0, len(items), 2000):  # a few thousand series per request, as Prometheus agents send
            request = WriteRequest()
            for labels, samples in items[start:start + 2000]:
                ts = request.timeseries.add()
                for key, value in labels:
                    ts.labels.add(name=key, value=value)
                for stamp, value in sorted(samples):
                    ts.samples.add(value=value, timestamp=stamp)
            answer = self.session.post(
                f"{self.url}/api/v1/write",
                data=snappy.compress(request.SerializeToString()),
                headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                         "X-Prometheus-Remote-Write-Version": "0.1.0"},
                timeout=120,
            )
            answer.raise_for_status()

    # --- lifecycle ------------------------------------------------------------

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.session.close()


def _influxdb_config(folder: Path, port: int, auth: bool) -> Path:
    config = folder / "influxdb.conf"
    config.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{folder}/meta"
[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
"""
    )
    return config


def start(kind: str, folder: Path, *, auth: tuple[str, str] | None = None) -> Server:
    """Start ``kind`` on a free loopback port with data in ``folder``; wait until it answers."""
    exe = binary(kind)
    if exe is None:
        raise FileNotFoundError(f"{BINARIES[kind]} is not installed (Debian package {DEBIAN_PACKAGES[kind]})")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if kind == "influxdb":
        command = [exe, "-config", str(_influxdb_config(folder, port, auth is not None))]
    elif kind == "victoriametrics":
        command = [
            exe, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={folder}/vm",
            "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.disableCache",
            "-loggerLevel=ERROR",
        ]
        if auth:
            command += [f"-httpAuth.username={auth[0]}", f"-httpAuth.password={auth[1]}"]
    else:
        command = [
            exe, f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={folder}/prom",
            f"--config.file={_prometheus_config(folder)}", "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=100y", "--log.level=error",
        ]
        if auth:
            web = folder / "web.yml"
            web.write_text(f"basic_auth_users:\n  {auth[0]}: {PROMETHEUS_HASH}\n")
            command.append(f"--web.config.file={web}")
    log = open(folder / f"{kind}.log", "wb")  # noqa: SIM115 - kept open for the process' life
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=os.environ.copy())
    server = Server(kind=kind, url=url, folder=folder, process=process, auth=auth)
    _wait_ready(server)
    if kind == "influxdb":
        _influxdb_setup(server)
    return server


def _prometheus_config(folder: Path) -> Path:
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    return config


def _wait_ready(server: Server) -> None:
    path = {"influxdb": "/ping", "victoriametrics": "/health", "prometheus": "/-/ready"}[server.kind]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited: {(server.folder / f'{server.kind}.log').read_text()[-2000:]}")
        try:
            answer = requests.get(server.url + path, timeout=1, auth=server.auth)
            if answer.status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.kind} did not answer on {server.url} within 30 s")


def _influxdb_setup(server: Server) -> None:
    """The telegraf database, and with auth the first (admin) user, which InfluxDB allows unauthenticated."""
    if server.auth:
        user, password = server.auth
        statement = f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
        requests.post(f"{server.url}/query", data={"q": statement}, timeout=TIMEOUT).raise_for_status()
    server.session.post(f"{server.url}/query", data={"q": f'CREATE DATABASE "{server.database}"'},
                        timeout=TIMEOUT).raise_for_status()
