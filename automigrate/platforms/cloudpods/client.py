"""A thin Cloudpods client on ``requests``: Keystone v3 login, the region's and the monitor's calls.

Only what automigrate needs, each call as Cloudpods' public source has it
(see docs in the README section "Replacing Cloudpods' automatic migration"):

- login: ``POST {auth_url}/auth/tokens`` (password, scoped to a project), the token
  from the ``X-Subject-Token`` header (Cloudpods' Keystone answers 200), sent as
  ``X-Auth-Token``; the region from the token's catalog (type ``compute_v2``,
  public interface), the monitor from type ``monitor``;
- lists page with ``limit``/``offset`` and answer ``{"<plural>": [...], "total": N}``,
  leaving out keys whose value is 0 (so no ``total`` means none); a limit above the
  server's maximum is cut down, so paging follows what came back, not what was asked;
- errors are ``{"code", "class", "details", "time"}``: the message shown is ``details``.

Every HTTP call has a time bound (``timeout_seconds`` for connecting and for
each read, and the whole call bounded by automigrate.bounded, so a server that
trickles bytes cannot hold a worker). The session (token, expiry, endpoints)
lives in a ``SessionStore`` shared by every process; it is renewed shortly
before it expires and once when the region answers 401.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.platforms.base import PlatformError

REGION = "compute_v2"  # Cloudpods' own client maps "compute" to this service type
MONITOR = "monitor"
PAGE_SIZE = 1000
# Renew a token this long before it expires, so a batch never starts on a dying one.
RENEW_BEFORE = timedelta(minutes=5)


class CloudpodsError(PlatformError):
    """Cloudpods refused or did not answer; ``str()`` is one line, Cloudpods' own message when it gave one."""

    def __init__(self, message: str, status: int | None = None, error_class: str = ""):
        super().__init__(message)
        self.status = status
        self.error_class = error_class


class NotFound(CloudpodsError):
    """404: the object does not exist (any more)."""


class LoginFailed(CloudpodsError):
    """Keystone did not give a usable token. ``kind``: credentials | unreachable | catalog."""

    def __init__(self, message: str, kind: str, status: int | None = None, error_class: str = ""):
        super().__init__(message, status, error_class)
        self.kind = kind


@dataclass(frozen=True)
class CloudpodsConfig:
    auth_url: str
    username: str
    password: str
    project: str = "system"
    domain: str = "Default"
    region: str = ""
    verify_tls: bool = True
    timeout_seconds: float = 10.0

    @property
    def keystone_url(self) -> str:
        """The Keystone v3 base: ``https://host:30500/v3`` and ``https://host:30500`` both mean it."""
        url = self.auth_url.rstrip("/")
        return url if url.endswith("/v3") else url + "/v3"

    @property
    def fingerprint(self) -> str:
        """Which settings a stored token (or failure) belongs to; the password only as part of a hash."""
        text = "\0".join((self.keystone_url, self.username, self.password, self.project, self.domain, self.region))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Session:
    token: str
    expires_at: datetime
    endpoints: dict[str, str] = field(default_factory=dict)

    def fresh(self, now: datetime) -> bool:
        return bool(self.token) and self.expires_at - RENEW_BEFORE > now


class SessionStore(Protocol):
    def load(self, fingerprint: str) -> Session | None: ...

    def save(self, fingerprint: str, session: Session) -> None: ...

    def drop(self, fingerprint: str, token: str) -> None: ...

    def record_failure(self, fingerprint: str, failure: LoginFailed) -> None: ...


class MemoryStore:
    """A store for one process (tests, one-off scripts)."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, LoginFailed] = {}

    def load(self, fingerprint: str) -> Session | None:
        return self.sessions.get(fingerprint)

    def save(self, fingerprint: str, session: Session) -> None:
        self.sessions[fingerprint] = session
        self.failures.pop(fingerprint, None)

    def drop(self, fingerprint: str, token: str) -> None:
        if fingerprint in self.sessions and self.sessions[fingerprint].token == token:
            del self.sessions[fingerprint]

    def record_failure(self, fingerprint: str, failure: LoginFailed) -> None:
        self.failures[fingerprint] = failure


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(text: str) -> datetime:
    """Keystone's ``2026-12-02T10:00:00.000000Z`` as an aware datetime."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def error_message(response: requests.Response) -> tuple[str, str]:
    """(message, class) from Cloudpods' error envelope, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        details = inner.get("details") or inner.get("message") or ""
        klass = str(inner.get("class") or inner.get("title") or "")
        if details:
            return " ".join(str(details).split()), klass
    text = " ".join(response.text.split())[:200]
    return text or response.reason or f"HTTP {response.status_code}", ""


class CloudpodsClient:
    def __init__(self, config: CloudpodsConfig, store: SessionStore | None = None, page_size: int = PAGE_SIZE):
        self.config = config
        self.store = store if store is not None else MemoryStore()
        self.page_size = page_size
        self._http = requests.Session()

    # --- HTTP, bounded ------------------------------------------------------

    def _send(self, method: str, url: str, what: str, **kwargs) -> requests.Response:
        timeout = float(self.config.timeout_seconds)
        try:
            return call_bounded(
                self._http.request, method, url, timeout=(timeout, timeout), verify=self.config.verify_tls,
                seconds=timeout * 2 + 1, what=what, **kwargs,
            )
        except CallTimedOut as exc:
            self._http = requests.Session()  # the stuck thread keeps the old one
            raise CloudpodsError(f"{what}: {exc}") from None
        except requests.Timeout:
            raise CloudpodsError(f"{what}: no answer in {timeout:g} s") from None
        except requests.RequestException as exc:
            raise CloudpodsError(f"{what}: cannot connect ({_short(exc)})") from None

    # --- login --------------------------------------------------------------

    def login(self) -> Session:
        """A new token from Keystone, stored for every process; LoginFailed (one line) if none."""
        conf = self.config
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {
                "user": {"name": conf.username, "domain": {"name": conf.domain}, "password": conf.password},
            }},
            "scope": {"project": {"name": conf.project, "domain": {"name": conf.domain}}},
        }}
        url = f"{conf.keystone_url}/auth/tokens"
        try:
            try:
                response = self._send("POST", url, f"Keystone at {conf.keystone_url}", json=body)
            except CloudpodsError as exc:
                raise LoginFailed(str(exc), "unreachable") from None
            session = self._session_from(response)
        except LoginFailed as failure:
            self.store.record_failure(conf.fingerprint, failure)
            raise
        self.store.save(conf.fingerprint, session)
        return session

    def _session_from(self, response: requests.Response) -> Session:
        conf = self.config
        if response.status_code in (401, 403):
            message, klass = error_message(response)
            raise LoginFailed(
                f"Keystone refused user '{conf.username}' (domain {conf.domain}, project {conf.project}):"
                f" {response.status_code} {klass + ': ' if klass else ''}{message}", "credentials",
                response.status_code, klass,
            )
        if response.status_code not in (200, 201):  # Cloudpods answers 200, OpenStack's Keystone 201
            message, klass = error_message(response)
            raise LoginFailed(f"Keystone answered {response.status_code}: {message}", "unreachable",
                              response.status_code, klass)
        token = response.headers.get("X-Subject-Token", "")
        try:
            data = response.json()["token"]
            expires_at = parse_time(data["expires_at"])
            catalog = data.get("catalog") or []
        except (ValueError, KeyError, TypeError):
            raise LoginFailed("Keystone's answer has no token.expires_at: is AUTOMIGRATE_CLOUDPODS_AUTH_URL"
                              " a Keystone v3 URL?", "catalog") from None
        if not token:
            raise LoginFailed("Keystone's answer has no X-Subject-Token header", "catalog")
        return Session(token=token, expires_at=expires_at, endpoints=self._endpoints(catalog))

    def _endpoints(self, catalog: list) -> dict[str, str]:
        found: dict[str, str] = {}
        for service_type in (REGION, MONITOR):
            url = self._pick(catalog, service_type, required=service_type == REGION)
            if url:
                found[service_type] = url.rstrip("/")
        return found

    def _pick(self, catalog: list, service_type: str, required: bool) -> str:
        public = [
            ep for svc in catalog if isinstance(svc, dict) and svc.get("type") == service_type
            for ep in svc.get("endpoints") or [] if isinstance(ep, dict) and ep.get("interface") == "public"
        ]
        wanted = self.config.region
        if wanted:
            public = [ep for ep in public if wanted in (ep.get("region"), ep.get("region_id"))]
        regions = sorted({str(ep.get("region_id") or ep.get("region") or "") for ep in public})
        if len(regions) > 1:
            raise LoginFailed(f"the catalog has {service_type} endpoints in regions {', '.join(regions)}:"
                              " set AUTOMIGRATE_CLOUDPODS_REGION to one of them", "catalog")
        if not public:
            if not required:
                return ""
            types = sorted({str(s.get("type")) for s in catalog if isinstance(s, dict)})
            where = f" in region {wanted}" if wanted else ""
            raise LoginFailed(f"the token's catalog has no public {service_type} endpoint{where}"
                              f" (it lists {', '.join(types) or 'nothing'})", "catalog")
        return str(public[0].get("url") or "")

    def session(self) -> Session:
        """The shared session if still fresh, else a new login."""
        stored = self.store.load(self.config.fingerprint)
        if stored is not None and stored.fresh(_utcnow()):
            return stored
        return self.login()

    # --- region and monitor calls ---------------------------------------------

    def call(self, method: str, path: str, *, service: str = REGION, params: dict | None = None,
             body: dict | None = None) -> dict:
        """One call to the region (or monitor); a 401 renews the token and tries once more."""
        session = self.session()
        for attempt in (1, 2):
            base = session.endpoints.get(service)
            if not base:
                raise CloudpodsError(f"the token's catalog has no public {service} endpoint")
            what = f"Cloudpods {method} {path}"
            response = self._send(method, base + path, what, params=params, json=body,
                                  headers={"X-Auth-Token": session.token})
            if response.status_code == 401 and attempt == 1:
                # Expired or revoked before its time (another process may already have renewed it).
                self.store.drop(self.config.fingerprint, session.token)
                session = self.session()
                continue
            return self._answer(response, what)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _answer(response: requests.Response, what: str) -> dict:
        if response.status_code >= 400:
            message, klass = error_message(response)
            kind = NotFound if response.status_code == 404 else CloudpodsError
            raise kind(message, response.status_code, klass)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise CloudpodsError(f"{what}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise CloudpodsError(f"{what}: the answer is not a JSON object")
        return data

    def list_all(self, path: str, plural: str, *, service: str = REGION, params: dict | None = None) -> list[dict]:
        """Every page of a list. Raises CloudpodsError if the list changed while it was read.

        A list that shifts between pages (a server created or deleted meanwhile)
        would skip or repeat items, and a skipped server would look gone; the
        whole list is read again once, then given up on.
        """
        for _ in range(2):
            items, stable = self._read_pages(path, plural, service, params or {})
            if stable:
                return items
        raise CloudpodsError(f"Cloudpods GET {path}: the list changed while it was read, twice; try again")

    def _read_pages(self, path: str, plural: str, service: str, params: dict) -> tuple[list[dict], bool]:
        items: dict[str, dict] = {}
        offset, first_total = 0, None
        while True:
            page = self.call("GET", path, service=service, params={**params, "limit": self.page_size, "offset": offset})
            rows = page.get(plural) or []
            total = int(page.get("total") or 0)  # left out when 0
            if first_total is None:
                first_total = total
            elif total != first_total:
                return [], False
            for row in rows:
                if isinstance(row, dict):
                    items.setdefault(str(row.get("id")), row)
            offset += len(rows)
            if not rows or offset >= total:
                break
        return list(items.values()), len(items) == first_total or (first_total == 0 and not items)

    def hosts(self) -> list[dict]:
        return self.list_all("/hosts", "hosts", params={"scope": "system"})

    def servers(self) -> list[dict]:
        # Without scope=system the region lists only the token's own project's servers.
        return self.list_all("/servers", "servers", params={"scope": "system"})

    def server(self, server_id: str) -> dict:
        return self.call("GET", f"/servers/{server_id}", params={"scope": "system"}).get("server") or {}

    def live_migrate(self, server_id: str, options: dict) -> dict:
        return self.call("POST", f"/servers/{server_id}/live-migrate", body={"server": options}).get("server") or {}

    def migrate_forecast(self, server_id: str, options: dict) -> dict:
        return self.call("POST", f"/servers/{server_id}/migrate-forecast", body={"server": options})

    def cancel_live_migrate(self, server_id: str) -> dict:
        return self.call("POST", f"/servers/{server_id}/cancel-live-migrate", body={"server": {}})

    def syncstatus(self, server_id: str) -> dict:
        return self.call("POST", f"/servers/{server_id}/syncstatus", body={"server": {}})

    def events(self, obj_id: str, action: str, limit: int = 5) -> list[dict]:
        page = self.call("GET", "/events", params={"obj_id": obj_id, "action": action, "limit": limit,
                                                   "scope": "system"})
        return [e for e in page.get("events") or [] if isinstance(e, dict)]

    def migration_alerts(self) -> list[dict]:
        return self.list_all("/migrationalerts", "migrationalerts", service=MONITOR, params={"scope": "system"})


def event_note(event: dict) -> str:
    """An operation-log entry's notes as text: Cloudpods JSON-quotes them ("\\"reason\\"")."""
    notes: Any = event.get("notes", "")
    if isinstance(notes, str):
        try:
            notes = json.loads(notes)
        except ValueError:
            return notes
    if isinstance(notes, str):
        return notes
    return json.dumps(notes, sort_keys=True, separators=(",", ":"))


def _short(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "certificate verify failed"):
        if marker in text:
            return marker
    return text.splitlines()[0][:160] if text else exc.__class__.__name__
