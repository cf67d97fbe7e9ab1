"""A faithful fake of the Proxmox VE API calls automigrate uses, served over real HTTPS.

Proxmox cannot run on these machines, so the connector is tested against this
small server instead. It follows the documented behaviour of PVE 8's API
(pve-manager / qemu-server sources and the API viewer), point by point:

- Every path is under ``/api2/json``; answers are ``{"data": ...}``.
- API tokens: ``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET``; anything
  else is ``401 authentication failure`` (the message is in the HTTP reason).
- ``GET /cluster/resources[?type=vm|node]``: nodes (``node``, ``status``,
  ``maxcpu``, ``maxmem``, ``cpu`` as a 0–1 fraction, ``mem``) and guests
  (``type`` qemu|lxc, ``vmid``, ``name``, ``node``, ``status``, ``maxcpu``,
  ``maxmem``, ``cpu``, ``mem``, ``tags`` joined by ``;``, ``template``).
- ``GET /nodes/{node}/qemu/{vmid}/migrate``: the precondition check
  (``running``, ``allowed_nodes``, ``not_allowed_nodes``, ``local_disks``).
- ``POST /nodes/{node}/qemu/{vmid}/migrate`` (form: ``target``, ``online``,
  ``with-local-disks``) answers a task id (UPID) at once and runs a
  ``qmigrate`` task. Refusals as PVE words them: a parameter error is a 400
  with ``{"errors": {"target": "target is local node."}}``; ``no such cluster
  node 'x'``, ``VM is locked (migrate)``, ``can't migrate running VM without
  --online``, ``target node 'x' is not online`` and a missing VM (``Configuration
  file 'nodes/N/qemu-server/V.conf' does not exist``) are 500s with the text as
  the reason.
- ``GET /nodes/{node}/tasks/{upid}/status``: ``status`` running|stopped and,
  once stopped, ``exitstatus`` ("OK" or the error). The VM moves to the target
  only when the task ends OK. ``DELETE /nodes/{node}/tasks/{upid}`` stops a
  running task: exitstatus ``interrupted by signal``, the VM stays on the source.

Test knobs: ``seconds_per_gib`` (task length), ``fail[vmid]`` (exitstatus of a
failing migration), ``land_elsewhere[vmid]`` (the task ends OK but the VM is on
another node), ``delay`` (every answer waits this long: a slow endpoint).
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

GiB = 1024**3


@dataclass
class FakeVM:
    vmid: int
    name: str
    node: str
    maxcpu: int = 2
    maxmem: int = 2 * GiB
    status: str = "running"
    cpu: float = 0.1  # fraction of its own vCPUs, as PVE reports
    tags: str = ""
    template: int = 0
    kind: str = "qemu"
    local_disks: bool = False
    lock: str = ""


@dataclass
class FakeNode:
    name: str
    maxcpu: int = 16
    maxmem: int = 64 * GiB
    status: str = "online"
    cpu: float = 0.2
    mem: int = 16 * GiB


@dataclass
class FakeTask:
    upid: str
    node: str
    vmid: int
    target: str
    ends_at: float
    exitstatus: str = ""  # set when the task stops
    stopped: bool = False


@dataclass
class ProxmoxState:
    token: str = "automigrate@pve!am=5ecret"
    nodes: dict[str, FakeNode] = field(default_factory=dict)
    vms: dict[int, FakeVM] = field(default_factory=dict)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    seconds_per_gib: float = 0.5
    fail: dict[int, str] = field(default_factory=dict)
    land_elsewhere: dict[int, str] = field(default_factory=dict)
    delay: float = 0.0
    calls: list[tuple[str, str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settle(self) -> None:
        """End every task whose time has come: the VM moves (or not) as the task says."""
        now = time.monotonic()
        for task in self.tasks.values():
            if task.stopped or now < task.ends_at:
                continue
            vm = self.vms[task.vmid]
            task.stopped, vm.lock = True, ""
            if task.vmid in self.fail:
                task.exitstatus = self.fail[task.vmid]
            else:
                task.exitstatus = "OK"
                vm.node = self.land_elsewhere.get(task.vmid, task.target)


class PVEError(Exception):
    def __init__(self, status: int, reason: str, errors: dict | None = None):
        self.status, self.reason, self.errors = status, reason, errors


class Handler(BaseHTTPRequestHandler):
    state: ProxmoxState  # set per server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet test output
        pass

    def _answer(self, status: int, data, reason: str | None = None, errors: dict | None = None) -> None:
        body = json.dumps({"data": data, **({"errors": errors} if errors else {})}).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        state = self.state
        if state.delay:
            time.sleep(state.delay)
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            params.update({k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
        if self.headers.get("Authorization") != f"PVEAPIToken={state.token}":
            self._answer(401, None, "authentication failure")
            return
        path = url.path.removeprefix("/api2/json")
        with state.lock:
            state.calls.append((method, path, params))
            state.settle()
            try:
                self._answer(200, route(state, method, path, params))
            except PVEError as exc:
                self._answer(exc.status, None, exc.reason, exc.errors)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


def route(state: ProxmoxState, method: str, path: str, params: dict):
    if method == "GET" and path == "/cluster/resources":
        return _resources(state, params.get("type"))
    if m := re.fullmatch(r"/nodes/([^/]+)/qemu/(\d+)/migrate", path):
        vm = _vm_on(state, m.group(1), int(m.group(2)))
        return _precondition(state, vm) if method == "GET" else _migrate(state, vm, params)
    if m := re.fullmatch(r"/nodes/([^/]+)/tasks/([^/]+)/status", path):
        task = _task(state, m.group(2))
        return {"upid": task.upid, "node": task.node, "type": "qmigrate", "id": str(task.vmid),
                "status": "stopped" if task.stopped else "running",
                **({"exitstatus": task.exitstatus} if task.stopped else {})}
    if method == "DELETE" and (m := re.fullmatch(r"/nodes/([^/]+)/tasks/([^/]+)", path)):
        task = _task(state, m.group(2))
        if not task.stopped:
            task.stopped, task.exitstatus = True, "interrupted by signal"
            state.vms[task.vmid].lock = ""
        return None
    raise PVEError(501, f"Method '{method} {path}' not implemented")


def _resources(state: ProxmoxState, kind: str | None) -> list[dict]:
    rows = []
    if kind in (None, "node"):
        for n in state.nodes.values():
            row = {"id": f"node/{n.name}", "type": "node", "node": n.name, "status": n.status}
            if n.status == "online":  # an offline node reports no usage
                row.update(maxcpu=n.maxcpu, maxmem=n.maxmem, cpu=n.cpu, mem=n.mem)
            rows.append(row)
    if kind in (None, "vm"):
        for v in state.vms.values():
            row = {"id": f"{v.kind}/{v.vmid}", "type": v.kind, "vmid": v.vmid, "name": v.name, "node": v.node,
                   "status": v.status, "maxcpu": v.maxcpu, "maxmem": v.maxmem, "template": v.template,
                   "cpu": v.cpu if v.status == "running" else 0, "mem": v.maxmem // 2}
            if v.tags:
                row["tags"] = v.tags
            if v.lock:
                row["lock"] = v.lock
            rows.append(row)
    return rows


def _vm_on(state: ProxmoxState, node: str, vmid: int) -> FakeVM:
    vm = state.vms.get(vmid)
    if vm is None or vm.node != node or vm.kind != "qemu":
        raise PVEError(500, f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
    return vm


def _task(state: ProxmoxState, upid: str) -> FakeTask:
    if upid not in state.tasks:
        raise PVEError(500, f"no such task '{upid}'")
    return state.tasks[upid]


def _precondition(state: ProxmoxState, vm: FakeVM) -> dict:
    others = [n for n in state.nodes.values() if n.name != vm.node]
    return {
        "running": 1 if vm.status == "running" else 0,
        "allowed_nodes": [n.name for n in others if n.status == "online"],
        "not_allowed_nodes": {n.name: {"unavailable_storages": []} for n in others if n.status != "online"},
        "local_disks": [{"volid": f"local-lvm:vm-{vm.vmid}-disk-0", "size": 8 * GiB}] if vm.local_disks else [],
        "local_resources": [],
    }


def _migrate(state: ProxmoxState, vm: FakeVM, params: dict) -> str:
    target = params.get("target", "")
    if not target:
        raise PVEError(400, "Parameter verification failed.", {"target": "property is missing and it is not optional"})
    if target == vm.node:
        raise PVEError(400, "Parameter verification failed.", {"target": "target is local node."})
    if target not in state.nodes:
        raise PVEError(500, f"no such cluster node '{target}'")
    if vm.lock:
        raise PVEError(500, f"VM is locked ({vm.lock})")
    if vm.status == "running" and params.get("online") not in ("1", "true"):
        raise PVEError(500, "can't migrate running VM without --online")
    if state.nodes[target].status != "online":
        raise PVEError(500, f"target node '{target}' is not online")
    if vm.local_disks and params.get("with-local-disks") not in ("1", "true"):
        raise PVEError(500, f"can't migrate local disk 'local-lvm:vm-{vm.vmid}-disk-0': use --with-local-disks")
    started = int(time.time())
    pid = 0x1000 + len(state.tasks)
    upid = f"UPID:{vm.node}:{pid:08X}:{started:08X}:{started:08X}:qmigrate:{vm.vmid}:automigrate@pve!am:"
    state.tasks[upid] = FakeTask(
        upid=upid, node=vm.node, vmid=vm.vmid, target=target,
        ends_at=time.monotonic() + state.seconds_per_gib * vm.maxmem / GiB,
    )
    vm.lock = "migrate"
    return upid


class FakeProxmox:
    """The server, on 127.0.0.1 with a self-signed certificate (``ca_file`` verifies it)."""

    def __init__(self, workdir: Path, state: ProxmoxState | None = None):
        self.state = state or ProxmoxState()
        self.ca_file = workdir / "pve.pem"
        key = workdir / "pve.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.ca_file)],
            check=True, capture_output=True, timeout=60,
        )
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeProxmox:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_state() -> ProxmoxState:
    """Three nodes and a few VMs, for `python -m tests.platforms.fake_proxmox` and the tests."""
    state = ProxmoxState()
    for name in ("pve1", "pve2", "pve3"):
        state.nodes[name] = FakeNode(name)
    state.vms[100] = FakeVM(100, "web-1", "pve1", maxcpu=4, maxmem=4 * GiB, cpu=0.9)
    state.vms[101] = FakeVM(101, "db-1", "pve1", maxcpu=8, maxmem=16 * GiB, tags="plb_anti_affinity_db")
    state.vms[102] = FakeVM(102, "db-2", "pve2", maxcpu=8, maxmem=16 * GiB, tags="plb_anti_affinity_db")
    state.vms[103] = FakeVM(103, "legacy", "pve2", maxmem=1 * GiB, tags="plb_ignore")
    state.vms[104] = FakeVM(104, "stopped-1", "pve3", status="stopped")
    state.vms[105] = FakeVM(105, "ct-1", "pve3", kind="lxc")
    return state


if __name__ == "__main__":  # a standalone fake for trying the connector by hand
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, FakeProxmox(Path(tmp), demo_state()) as fake:
        print(f"AUTOMIGRATE_PLATFORM=proxmox AUTOMIGRATE_PROXMOX_URL={fake.url} "
              f"AUTOMIGRATE_PROXMOX_TOKEN_ID=automigrate@pve!am AUTOMIGRATE_PROXMOX_TOKEN_SECRET=5ecret "
              f"AUTOMIGRATE_PROXMOX_VERIFY_TLS=0", flush=True)
        fake.thread.join()
