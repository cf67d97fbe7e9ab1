"""The real-Nova tier: one in-process Nova (tests/nova/nova_harness.py) for the whole session.

The harness runs under the Nova virtualenv's python (nova==34.0.0 and
openstack-placement, built by .ci/run). Without that virtualenv the tier is
skipped with a message, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest
import requests

NOVA_VENV = Path(os.environ.get("AUTOMIGRATE_NOVA_VENV", "/var/cache/automigrate/nova-venv"))
HARNESS = Path(__file__).with_name("nova_harness.py")
TOKEN = "automigrate-tier-token"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"  # Nova's GlanceFixture image
READY_SECONDS = 180


class Nova:
    """The running harness, and the admin calls tests use to set a scene (boot, disable, …)."""

    def __init__(self, url: str, token: str, process: subprocess.Popen, log: Path) -> None:
        self.url, self.token, self.process, self.log = url, token, process, log
        self.compute = url + "/v2.1"

    def api(self, method: str, path: str, body: dict | None = None, mv: str = "2.80", ok=(200, 201, 202, 204)):
        response = requests.request(method, self.compute + path, json=body, timeout=30, headers={
            "X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {mv}",
        })
        assert response.status_code in ok, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else {}

    def server(self, server_id: str) -> dict:
        return self.api("GET", f"/servers/{server_id}", mv="2.47")["server"]

    def boot(self, name: str, host: str, flavor: str = "1", zone: str = "nova") -> dict:
        created = self.api("POST", "/servers", {"server": {
            "name": name, "imageRef": IMAGE, "flavorRef": flavor, "networks": "none",
            "availability_zone": f"{zone}:{host}",
        }}, mv="2.37")["server"]
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            row = self.server(created["id"])
            if row["status"] in ("ACTIVE", "ERROR"):
                assert row["status"] == "ACTIVE", row.get("fault")
                return row
            time.sleep(0.2)
        raise AssertionError(f"server {name} not ACTIVE in 60 s")

    def delete(self, server_id: str) -> None:
        self.api("DELETE", f"/servers/{server_id}", ok=(204, 404))
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            response = requests.get(self.compute + f"/servers/{server_id}", timeout=30,
                                    headers={"X-Auth-Token": self.token})
            if response.status_code == 404:
                return
            time.sleep(0.2)

    def set_service(self, host: str, enabled: bool) -> None:
        services = self.api("GET", "/os-services?binary=nova-compute", mv="2.53")["services"]
        service = next(s for s in services if s["host"] == host)
        body = {"status": "enabled"} if enabled else {"status": "disabled", "disabled_reason": "test"}
        self.api("PUT", f"/os-services/{service['id']}", body, mv="2.53")


def _start(log: Path) -> Nova:
    python = NOVA_VENV / "bin" / "python"
    process = subprocess.Popen(
        [str(python), str(HARNESS), "--port", "0", "--computes", "2", "--token", TOKEN],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )
    give_up = time.monotonic() + READY_SECONDS
    while time.monotonic() < give_up:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                answer = json.loads(line)
                if not answer.get("ready"):
                    raise RuntimeError(f"Nova harness failed: {answer.get('error')} (log: {log})")
                return Nova(answer["url"], answer["token"], process, log)
        elif process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"Nova harness not ready in {READY_SECONDS} s; its log: {log}")


@pytest.fixture(scope="session")
def nova_harness(tmp_path_factory):
    if not (NOVA_VENV / "bin" / "python").exists():
        why = (f"the real-Nova tier needs the Nova virtualenv at {NOVA_VENV} (.ci/run builds it:"
               " python3 -m venv … && pip install 'nova==34.0.0' openstack-placement 'SQLAlchemy<2.1' …)")
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    log = tmp_path_factory.mktemp("nova") / "nova-harness.log"
    nova = _start(log)
    # No quota in the way of the tier's servers; a flavor big enough to matter on the fake driver's 1000-vCPU hosts.
    nova.api("PUT", "/os-quota-sets/admin", {"quota_set": {"cores": -1, "ram": -1, "instances": -1}}, mv="2.57")
    flavors = nova.api("GET", "/flavors")["flavors"]
    if not any(f["name"] == "am.big" for f in flavors):
        nova.api("POST", "/flavors", {"flavor": {"name": "am.big", "id": "am-big", "vcpus": 200, "ram": 2048,
                                                  "disk": 1}}, mv="2.55")
    yield nova
    nova.process.stdin.close()
    try:
        nova.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        nova.process.kill()
        nova.process.wait()


@pytest.fixture
def nova(nova_harness, settings, tmp_path, monkeypatch):
    """AUTOMIGRATE_PLATFORM=openstack with a clouds.yaml pointing at the harness; servers booted are deleted after."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"harness": {
        # Nova behind a token checker, as with keystonemiddleware: admin_token + the compute endpoint.
        "auth_type": "admin_token",
        "auth": {"endpoint": nova_harness.compute, "token": nova_harness.token},
        "compute_endpoint_override": nova_harness.compute,
    }}}))
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("OS_CLOUD", "harness")
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "openstack", "DRIVER": "", "METRIC_SOURCE": "database",
                            "OPENSTACK_TIMEOUT_SECONDS": 10}
    booted: list[str] = []
    original_boot = nova_harness.boot

    def boot(name, host, flavor="1", zone="nova"):
        row = original_boot(name, host, flavor, zone)
        booted.append(row["id"])
        return row

    nova_harness.boot = boot
    try:
        yield nova_harness
    finally:
        nova_harness.boot = original_boot
        for server_id in booted:
            nova_harness.delete(server_id)


