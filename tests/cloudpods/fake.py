"""A faithful fake of the Cloudpods calls automigrate uses: Keystone v3, the region, the monitor.

A real HTTP server on 127.0.0.1 (http.server in a thread), following Cloudpods'
public source point by point (../shared/docs/real-components.md, "The seed's
platform"):

- Keystone ``POST /v3/auth/tokens`` answers **200** with the token in
  ``X-Subject-Token`` and a catalog: ``compute_v2`` (name ``region2``) with public and
  internal endpoints, an older ``compute`` service the client must not use, and
  ``monitor``; a wrong password is 401 ``WrongPassword``;
- lists page with ``limit``/``offset``, cut a limit above ``max_limit`` down, answer
  ``{"<plural>": [...], "total": N, "limit": L, "offset": O}`` and leave out every
  key whose value is 0 (or false, or empty), in objects too, as Go's omitempty does;
- ``GET /servers`` lists only the token's own project's servers unless ``scope=system``;
- ``live-migrate`` refuses synchronously ("Cannot live migrate in status %s", only
  running/suspend; "Not allow for hypervisor %s", 406; "Host %s not found"), then
  walks a scenario: ``start_migrate`` → ``live_migrating`` → (``host_id`` switches
  while still ``live_migrating``) → ``running`` on the target; or ``migrate_failed``
  with the reason only in the operation log (``GET /events``, notes JSON-quoted),
  back to running on the source after ``syncstatus``; or landing on a third host;
  or the server vanishing; or hanging until ``cancel-live-migrate`` (only while
  ``live_migrating``), which fails it and syncs it back to the source;
- tokens expire (``expire_tokens()`` revokes every token issued so far: the next
  call gets 401 mid-batch), endpoints can be made slow (``slow``), every call is
  logged (``calls``) so tests can check bodies.

Run it alone for trying automigrate by hand (see README "Replacing Cloudpods'
automatic migration")::

    python -m tests.cloudpods.fake --port 9511 --demo
        [--feed http://127.0.0.1:8080/write --feed-user U --feed-password P]

With ``--feed`` it also plays telegraf: every 10 s it writes its hosts' and
servers' CPU and memory (tagged ``host_id`` / ``vm_id`` with its ids) to that
InfluxDB ``/write`` URL, computed from where the servers run *now*, so a
migration shows in the next samples.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MIB = 1024 * 1024
SYSTEM_PROJECT_ID = "5d65667d112e47249ae66dbd7bc07030"
# The scenarios a live migration can follow (see module docstring).
SCENARIOS = ("success", "fail", "third_host", "vanish", "hang", "rollback")


def omitempty(value):
    """Cloudpods' JSON: keys whose value is 0, false, "" or empty are left out (recursively)."""
    if isinstance(value, dict):
        return {k: omitempty(v) for k, v in value.items() if v not in (0, False, "", None, [], {}) or v is True}
    if isinstance(value, list):
        return [omitempty(v) for v in value]
    return value


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HttpError(Exception):
    def __init__(self, code: int, klass: str, details: str):
        super().__init__(details)
        self.code, self.klass, self.details = code, klass, details


class FakeCloudpods:
    def __init__(self, *, username: str = "admin", password: str = "s3cret", project: str = "system",
                 domain: str = "Default", max_limit: int = 20, token_ttl: float = 24 * 3600,
                 step_seconds: float = 0.3, regions: tuple[str, ...] = ("region0",)):
        self.username, self.password, self.project, self.domain = username, password, project, domain
        self.max_limit, self.token_ttl, self.step_seconds, self.regions = max_limit, token_ttl, step_seconds, regions
        self.hosts: dict[str, dict] = {}
        self.servers: dict[str, dict] = {}
        self.alerts: list[dict] = []
        self.oplog: list[dict] = []
        self.tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.calls: list[dict] = []
        self.slow: dict[tuple[str, str], float] = {}  # (method, path) -> seconds to wait before answering
        self.next_scenario: dict[str, str] = {}  # server id -> scenario of its next live-migrate
        self.third_host: dict[str, str] = {}  # server id -> where "third_host" lands it
        self.load: dict[str, float] = {}  # server id -> CPU % of its own vCPUs (for --feed)
        self._timeline: list[tuple[float, str, dict | None]] = []  # (at, server id, changes; None = delete)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._event_id = 1000

    # --- lifecycle ----------------------------------------------------------

    def start(self, port: int = 0) -> FakeCloudpods:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms delayed-ACK stall

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-cloudpods", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return self.url + "/v3"

    # --- the world ----------------------------------------------------------

    def add_host(self, name: str, *, cpu_count: int = 40, mem_size: int = 256 * 1024, host_type: str = "hypervisor",
                 enabled: bool = True, host_status: str = "online", cpu_architecture: str = "x86_64",
                 host_id: str | None = None) -> str:
        host_id = host_id or str(uuid.uuid4())
        self.hosts[host_id] = {
            "id": host_id, "name": name, "cpu_count": cpu_count, "mem_size": mem_size, "host_type": host_type,
            "cpu_architecture": cpu_architecture, "enabled": enabled, "host_status": host_status,
            "status": "running", "zone": "zone0",
        }
        return host_id

    def add_server(self, name: str, host_id: str, *, vcpu_count: int = 2, vmem_size: int = 2048,
                   status: str = "running", hypervisor: str = "kvm", project_id: str = "demo-project",
                   server_id: str | None = None, load: float = 10.0) -> str:
        server_id = server_id or str(uuid.uuid4())
        self.servers[server_id] = {
            "id": server_id, "name": name, "host_id": host_id, "host": self.hosts[host_id]["name"],
            "status": status, "vcpu_count": vcpu_count, "vmem_size": vmem_size, "hypervisor": hypervisor,
            "tenant_id": project_id, "billing_type": "postpaid", "os_type": "Linux",
        }
        self.load[server_id] = load
        return server_id

    def add_alert(self, name: str, metric_type: str, threshold: float, period: str = "5m", *,
                  source_hosts=(), source_guests=(), target_hosts=(), enabled: bool = True,
                  customize_config: dict | None = None, alert_id: str | None = None) -> str:
        """A migration alert as ``GET /migrationalerts`` lists it (threshold and period inside settings)."""
        alert_id = alert_id or str(uuid.uuid4())
        comparator = "gt" if metric_type == "cpu.usage_active" else "lt"
        config = customize_config if customize_config is not None else {
            "source": {"host_ids": list(source_hosts), "guest_ids": list(source_guests)},
            "target": {"host_ids": list(target_hosts)},
        }
        seconds = sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([hms])", period))
        self.alerts.append({
            "id": alert_id, "name": name, "metric_type": metric_type, "enabled": enabled, "status": "ready",
            "frequency": seconds, "level": "normal", "res_type": "host",
            "settings": {"conditions": [{
                "type": "query", "operator": "and",
                "evaluator": {"type": comparator, "params": [threshold]},
                "reducer": {"type": "avg"},
                "query": {"from": period, "to": "now", "model": {
                    "database": "telegraf", "measurement": metric_type.split(".")[0],
                    "tags": [{"key": "res_type", "operator": "=", "value": "host"}],
                }},
            }]},
            "customize_config": config,
        })
        return alert_id

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (401), as one that expired early."""
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def calls_to(self, method: str, suffix: str) -> list[dict]:
        with self._lock:
            return [c for c in self.calls if c["method"] == method and c["path"].endswith(suffix)]

    def server_now(self, server_id: str) -> dict | None:
        with self._lock:
            self._advance()
            return dict(self.servers[server_id]) if server_id in self.servers else None

    # --- the timeline of migrations ---------------------------------------

    def _at(self, steps: float, server_id: str, changes: dict | None) -> None:
        self._timeline.append((time.time() + steps * self.step_seconds, server_id, changes))

    def _advance(self) -> None:
        """Apply every scheduled change whose time has come (read lazily on each request)."""
        now = time.time()
        due = [item for item in self._timeline if item[0] <= now]
        self._timeline = [item for item in self._timeline if item[0] > now]
        for _, server_id, changes in sorted(due, key=lambda item: item[0]):
            if server_id not in self.servers:
                continue
            if changes is None:
                del self.servers[server_id]
                continue
            if "_log" in changes:
                self._log(server_id, "migrate_fail", changes.pop("_log"))
            self.servers[server_id].update(changes)
            if "host_id" in changes:
                self.servers[server_id]["host"] = self.hosts[changes["host_id"]]["name"]

    def _log(self, server_id: str, action: str, note: str) -> None:
        self._event_id += 1
        self.oplog.append({
            "id": self._event_id, "ops_time": iso(datetime.now(UTC)), "obj_id": server_id, "obj_type": "server",
            "obj_name": self.servers[server_id]["name"], "action": action, "user": "regionadmin",
            "tenant": "system", "success": action != "migrate_fail",
            "notes": json.dumps(note),  # Cloudpods stores notes JSON-quoted
        })

    def _plan(self, server: dict, source: str, target: str) -> None:
        sid = server["id"]
        scenario = self.next_scenario.pop(sid, "success")
        server["status"] = "start_migrate"  # set by the action itself
        self._at(1, sid, {"status": "live_migrating"})
        if scenario == "success":
            self._at(2, sid, {"host_id": target})  # switches while still live_migrating
            self._at(3, sid, {"status": "running"})
        elif scenario == "fail":
            self._at(2, sid, {"status": "migrate_failed",
                              "_log": "Live migrate failed: qemu-kvm: load of migration failed: Input/output error"})
        elif scenario == "third_host":
            third = self.third_host[sid]
            self._at(2, sid, {"host_id": third})
            self._at(3, sid, {"status": "running"})
        elif scenario == "vanish":
            self._at(2, sid, None)
        elif scenario == "rollback":
            self._at(3, sid, {"status": "running", "host_id": source})
        # "hang": live_migrating until cancel-live-migrate
        server["_source"] = source

    # --- HTTP -----------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        method, path = handler.command, parts.path
        with self._lock:
            self.calls.append({"method": method, "path": path, "query": query, "body": body,
                               "token": handler.headers.get("X-Auth-Token", "")})
        delay = self.slow.get((method, path))
        if delay:
            time.sleep(delay)
        headers: dict[str, str] = {}
        try:
            if body is None:
                raise HttpError(400, "InputParameterError", "invalid JSON body")
            with self._lock:
                self._advance()
                status, payload = self._route(method, path, query, body, handler.headers, headers)
        except HttpError as exc:
            status, payload = exc.code, {"code": exc.code, "class": exc.klass, "details": exc.details,
                                         "time": iso(datetime.now(UTC))}
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, query, body, request_headers, headers) -> tuple[int, dict]:
        if method == "POST" and path == "/v3/auth/tokens":
            return self._login(body, headers)
        project = self._authorised(request_headers.get("X-Auth-Token", ""))
        if path.startswith("/region/"):
            return self._region(method, path[len("/region"):], query, body, project)
        if path.startswith("/monitor/") and method == "GET" and path == "/monitor/migrationalerts":
            return 200, self._page("migrationalerts", self.alerts, query)
        raise HttpError(404, "NotFoundError", f"Handler not found for {method} {path}")

    def _login(self, body: dict, headers: dict) -> tuple[int, dict]:
        try:
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            scope = body["auth"]["scope"]["project"]
        except (KeyError, TypeError):
            raise HttpError(400, "InputParameterError", "invalid auth input") from None
        if "password" not in identity.get("methods", []):
            raise HttpError(400, "InputParameterError", "unsupported auth method")
        if user.get("name") != self.username or user.get("domain", {}).get("name") != self.domain:
            raise HttpError(401, "Unauthorized", f"user {user.get('name')} not found")
        if user.get("password") != self.password:
            raise HttpError(401, "WrongPassword", "wrong password")
        if scope.get("name") != self.project or scope.get("domain", {}).get("name") != self.domain:
            raise HttpError(401, "Unauthorized", f"project {scope.get('name')} not found")
        token = "gAAAA" + uuid.uuid4().hex + uuid.uuid4().hex
        expires = time.time() + self.token_ttl
        self.tokens[token] = expires
        headers["X-Subject-Token"] = token

        def endpoint(service: str, region: str, interface: str, url: str) -> dict:
            return {"id": uuid.uuid4().hex, "interface": interface, "region": region, "region_id": region,
                    "url": url, "name": f"{service}-{interface}"}

        catalog = [
            {"id": uuid.uuid4().hex, "type": "identity", "name": "keystone",
             "endpoints": [endpoint("keystone", r, "public", self.auth_url) for r in self.regions]},
            # The v1 region service: Cloudpods' own client maps "compute" to compute_v2, so must we.
            {"id": uuid.uuid4().hex, "type": "compute", "name": "region",
             "endpoints": [endpoint("region", r, "public", self.url + "/region-v1") for r in self.regions]},
            {"id": uuid.uuid4().hex, "type": "compute_v2", "name": "region2", "endpoints": [
                *(endpoint("region2", r, "internal", "http://default-region.onecloud:30888") for r in self.regions),
                *(endpoint("region2", r, "public", self.url + ("/region" if i == 0 else f"/region-{r}"))
                  for i, r in enumerate(self.regions)),
            ]},
            {"id": uuid.uuid4().hex, "type": "monitor", "name": "monitor",
             "endpoints": [endpoint("monitor", r, "public", self.url + "/monitor") for r in self.regions[:1]]},
        ]
        now = datetime.now(UTC)
        return 200, {"token": {
            "methods": ["password"], "issued_at": iso(now), "expires_at": iso(now + timedelta(seconds=self.token_ttl)),
            "user": {"id": uuid.uuid4().hex, "name": self.username, "domain": {"id": "default", "name": self.domain}},
            "project": {"id": SYSTEM_PROJECT_ID, "name": self.project,
                        "domain": {"id": "default", "name": self.domain}},
            "roles": [{"id": uuid.uuid4().hex, "name": "admin"}],
            "catalog": catalog,
        }}

    def _authorised(self, token: str) -> str:
        if not token or self.tokens.get(token, 0.0) <= time.time():
            raise HttpError(401, "InvalidCredentialError", "token expired or invalid")
        return SYSTEM_PROJECT_ID

    def _page(self, plural: str, items: list[dict], query: dict) -> dict:
        try:
            limit = int(query.get("limit", 20))
            offset = int(query.get("offset", 0))
        except ValueError:
            raise HttpError(400, "InputParameterError", "invalid limit or offset") from None
        limit = min(limit, self.max_limit) if limit > 0 else self.max_limit  # cut down, as Cloudpods does
        rows = [omitempty({k: v for k, v in item.items() if not k.startswith("_")})
                for item in items[offset:offset + limit]]
        return omitempty({plural: rows, "total": len(items), "limit": limit, "offset": offset})

    def _region(self, method, path, query, body, project) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["hosts"]:
            return 200, self._page("hosts", list(self.hosts.values()), query)
        if method == "GET" and parts == ["servers"]:
            servers = list(self.servers.values())
            if query.get("scope") != "system":
                servers = [s for s in servers if s["tenant_id"] == project]
            return 200, self._page("servers", servers, query)
        if method == "GET" and parts == ["events"]:
            rows = [e for e in self.oplog if e["obj_id"] == query.get("obj_id", e["obj_id"])
                    and e["action"] == query.get("action", e["action"])]
            return 200, self._page("events", sorted(rows, key=lambda e: -e["id"]), query)
        if len(parts) >= 2 and parts[0] == "servers":
            server = self.servers.get(parts[1])
            if server is None:
                raise HttpError(404, "ResourceNotFoundError", f"guest {parts[1]} not found")
            if method == "GET" and len(parts) == 2:
                return 200, {"server": omitempty({k: v for k, v in server.items() if not k.startswith("_")})}
            if method == "POST" and len(parts) == 3:
                return self._action(server, parts[2], body.get("server", body) if isinstance(body, dict) else {})
        raise HttpError(404, "NotFoundError", f"Handler not found for {method} /region{path}")

    def _target(self, data: dict) -> dict | None:
        wanted = data.get("prefer_host_id") or data.get("prefer_host")  # the older name still accepted
        if not wanted:
            return None
        for host in self.hosts.values():
            if wanted in (host["id"], host["name"]):
                return host
        raise HttpError(400, "InputParameterError", f"Host {wanted} not found")

    def _action(self, server: dict, action: str, data: dict) -> tuple[int, dict]:
        shown = {k: v for k, v in server.items() if not k.startswith("_")}
        if action == "live-migrate":
            if server["status"] not in ("running", "suspend"):
                raise HttpError(400, "InvalidStatusError", f"Cannot live migrate in status {server['status']}")
            if server["hypervisor"] != "kvm":
                raise HttpError(406, "NotAcceptableError", f"Not allow for hypervisor {server['hypervisor']}")
            target = self._target(data)
            self._plan(server, server["host_id"], target["id"] if target else self._any_other(server))
            return 200, {"server": omitempty({**shown, "status": server["status"]})}
        if action == "migrate-forecast":
            if server["status"] not in ("running", "suspend"):
                raise HttpError(400, "InvalidStatusError", f"Cannot live migrate in status {server['status']}")
            if server["hypervisor"] != "kvm":
                raise HttpError(406, "NotAcceptableError", f"Not allow for hypervisor {server['hypervisor']}")
            target = self._target(data)
            reasons = []
            if target is not None and not target["enabled"]:
                reasons.append(f"host {target['name']} is disabled")
            if target is not None and target["host_status"] != "online":
                reasons.append(f"host {target['name']} host_status is {target['host_status']}")
            if target is not None and target["id"] == server["host_id"]:
                reasons.append(f"guest already on host {target['name']}")
            result = {"can_create": not reasons, "allow_count": 0 if reasons else 1, "req_count": 1,
                      "not_allow_reasons": reasons,
                      "filtered_candidates": [{"id": target["id"], "name": target["name"], "reasons": reasons}]
                      if reasons else []}
            return 200, omitempty(result)
        if action == "cancel-live-migrate":
            if server["status"] != "live_migrating":
                raise HttpError(400, "InvalidStatusError", f"Cannot cancel live migrate in status {server['status']}")
            sid = server["id"]
            self._timeline = [item for item in self._timeline if item[1] != sid]
            self._log(sid, "migrate_fail", "live migration cancelled")
            server["status"] = "migrate_failed"
            self._at(1, sid, {"status": "running", "host_id": server.get("_source", server["host_id"])})
            return 200, {"server": omitempty({**shown, "status": "migrate_failed"})}
        if action == "syncstatus":
            if server["status"].endswith("_failed") or server["status"].endswith("_fail"):
                self._at(1, server["id"], {"status": "running", "host_id": server.get("_source", server["host_id"])})
            return 200, {"server": omitempty(shown)}
        raise HttpError(404, "NotFoundError", f"Handler not found for POST /region/servers/{server['id']}/{action}")

    def _any_other(self, server: dict) -> str:
        return next(h["id"] for h in self.hosts.values() if h["id"] != server["host_id"])

    # --- playing telegraf (standalone) -----------------------------------------

    def metric_lines(self, stamp_ns: int) -> list[str]:
        """Telegraf's lines for every host and server, from where servers run now."""
        with self._lock:
            self._advance()
            lines = []
            for host in self.hosts.values():
                mine = [s for s in self.servers.values() if s["host_id"] == host["id"] and s["status"] != "ready"]
                busy = sum(self.load.get(s["id"], 0) * s["vcpu_count"] for s in mine) / max(host["cpu_count"], 1)
                usage = min(100.0, 3.0 + busy)
                free = max(0, host["mem_size"] * MIB - sum(s["vmem_size"] for s in mine) * MIB - 4 * 1024 * MIB)
                tags = f"host={host['name']},host_id={host['id']},res_type=host"
                lines.append(f"cpu,cpu=cpu-total,{tags} usage_active={usage:.3f} {stamp_ns}")
                lines.append(f"mem,{tags} available={free}i {stamp_ns}")
            for server in self.servers.values():
                lines.append(f"vm_cpu,vm_id={server['id']},vm_name={server['name']}"
                             f" usage_active={self.load.get(server['id'], 0):.3f} {stamp_ns}")
            return lines


def demo() -> FakeCloudpods:
    """A small cluster like the seed page's: test-66-onecloud02 busy, two roomy hosts, two alerts."""
    fake = FakeCloudpods(step_seconds=3.0)
    busy = fake.add_host("test-66-onecloud02", cpu_count=40, host_id="6fc10297-eb20-4a96-86a8-4b65260d6016")
    a15 = fake.add_host("a15", cpu_count=40, host_id="733b10fa-bd33-4503-836d-2ccd225bf12f")
    roomy = fake.add_host("test-69-onecloud01", cpu_count=64, mem_size=512 * 1024)
    fake.add_host("old-esxi", host_type="esxi")
    fake.add_server("cpu-test-vm", busy, vcpu_count=24, vmem_size=1024, load=100.0)
    fake.add_server("aisenzhe", a15, vcpu_count=8, vmem_size=8192, load=10.0,
                    server_id="a3107d1f-c46e-43cf-8aa8-55743d1533b1")
    fake.add_server("web-1", busy, vcpu_count=4, vmem_size=4096, load=20.0)
    fake.add_server("stopped-vm", roomy, status="ready")
    fake.add_alert("test-cpu", "cpu.usage_active", 60, "2m", source_hosts=[busy])
    fake.add_alert("all-host-mem", "mem.available", 2 * 1024**3, "5m")
    return fake


def _feed(fake: FakeCloudpods, url: str, user: str, password: str, every: float) -> None:
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    while True:
        body = "\n".join(fake.metric_lines(time.time_ns())).encode()
        request = urllib.request.Request(url + "?db=telegraf", data=body, method="POST",
                                         headers={"Authorization": auth, "Content-Type": "text/plain"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = answer.status
        except Exception as exc:  # keep feeding: the server may not be up yet
            status = exc
        print(f"feed: {len(body)} bytes -> {status}", flush=True)
        time.sleep(every)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Cloudpods (Keystone + region + monitor) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=9511)
    parser.add_argument("--demo", action="store_true", help="seed the demo cluster and migration alerts")
    parser.add_argument("--feed", help="also write telegraf-like metrics to this InfluxDB /write URL")
    parser.add_argument("--feed-user", default="")
    parser.add_argument("--feed-password", default="")
    parser.add_argument("--feed-every", type=float, default=10.0)
    args = parser.parse_args(argv)
    fake = (demo() if args.demo else FakeCloudpods()).start(args.port)
    print(f"fake Cloudpods on {fake.url}: AUTOMIGRATE_CLOUDPODS_AUTH_URL={fake.auth_url}"
          f" USERNAME={fake.username} PASSWORD={fake.password}", flush=True)
    if args.feed:
        threading.Thread(target=_feed, args=(fake, args.feed, args.feed_user, args.feed_password, args.feed_every),
                         daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
