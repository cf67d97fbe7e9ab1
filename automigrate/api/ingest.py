"""POST /write and GET /ping: enough of the InfluxDB 1.x HTTP API for telegraf and InfluxDB clients.

Answers as InfluxDB does: 204 and no body on success, ``{"error": "..."}`` otherwise.
Credentials are Django users, sent any way InfluxDB accepts them:
``Authorization: Token <api token>`` (or InfluxDB 1.8's ``Token user:password``),
HTTP Basic, or the ``u``/``p`` query parameters. Writing needs the operators
group, staff, or the ``automigrate.add_hostsample`` permission (for a
least-privilege telegraf account).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import zlib

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from rest_framework.authtoken.models import Token

from automigrate.permissions import is_operator
from automigrate.services import storage, telemetry
from automigrate.services.ingest import IngestError, IngestResult, ingest

# InfluxDB's own default max-body-size is 25 MB; telegraf batches are far smaller.
MAX_BODY_BYTES = 32 * 1024 * 1024
VERSION_HEADER = {"X-Influxdb-Version": "1.8-compatible (automigrate)"}
WRITE_PERMISSION = "automigrate.add_hostsample"
MAX_NAMES_IN_ERROR = 20

# Password hashing (PBKDF2, ~1e6 rounds) costs far more than storing a batch,
# and telegraf sends the same credentials every few seconds. So a successful
# check is remembered for a while, keyed by a keyed hash of the password and
# bound to the user's current password hash: changing the password or
# deactivating the user ends it. InfluxDB 1.x keeps a similar cache.
_CREDENTIAL_TTL_SECONDS = 300
_CREDENTIAL_CACHE_SIZE = 1000
_credential_cache: dict[tuple[str, str], tuple[int, str, float]] = {}


def _error(status: int, message: str, **headers) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers={**VERSION_HEADER, **headers})


def _password_key(username: str, password: str) -> tuple[str, str]:
    digest = hmac.new(settings.SECRET_KEY.encode(), password.encode(), hashlib.sha256).hexdigest()
    return username, digest


@sensitive_variables("password", "key")
def _password_user(request: HttpRequest, username: str, password: str):
    key = _password_key(username, password)
    cached = _credential_cache.get(key)
    # A locked-out client is refused even with the right password: axes must see the attempt.
    if cached is not None and cached[2] > time.monotonic() and not AxesProxyHandler.is_locked(
        request, {"username": username}
    ):
        user = get_user_model().objects.filter(pk=cached[0], is_active=True).first()
        if user is not None and user.password == cached[1]:
            return user
        _credential_cache.pop(key, None)
    # With the request, so django-axes counts failures and refuses a locked-out client.
    user = authenticate(request, username=username, password=password)
    if user is not None:
        if len(_credential_cache) >= _CREDENTIAL_CACHE_SIZE:
            _credential_cache.clear()
        _credential_cache[key] = (user.pk, user.password, time.monotonic() + _CREDENTIAL_TTL_SECONDS)
    return user


def _token_user(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


@sensitive_variables("value", "password")
def request_user(request: HttpRequest):
    """The Django user named by the request's InfluxDB-style credentials, or None."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "token" and value:
        if ":" in value:  # InfluxDB 1.8: "Token username:password"
            username, _, password = value.partition(":")
            return _password_user(request, username, password)
        return _token_user(value)
    if scheme.lower() == "basic" and value:
        try:
            username, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return _password_user(request, username, password)
    username, password = request.GET.get("u"), request.GET.get("p")
    if username and password is not None:
        return _password_user(request, username, password)
    return None


def may_write_metrics(user) -> bool:
    return is_operator(user) or user.has_perm(WRITE_PERMISSION)


class BodyTooLarge(Exception):
    pass


def _read_body(request: HttpRequest) -> bytes:
    # The stream, not request.body: Django caps request.body at 2.5 MB, we at MAX_BODY_BYTES.
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return _gunzip(body)
    raise IngestError(f"unsupported Content-Encoding '{encoding[:40]}': send gzip or identity", status=415)


def _gunzip(data: bytes) -> bytes:
    """Inflate a gzip body, refusing a truncated one.

    zlib's decompressobj returns what it could inflate of a cut-off stream
    without raising, so a body that ends early must be caught here, or the
    lines before the cut are stored with a 204. Several gzip members one after
    the other are valid gzip (Go's reader, hence InfluxDB, accepts them too);
    anything else after the end is not.
    """
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(data, MAX_BODY_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise IngestError(f"the body is not valid gzip: {exc}") from None
        if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise BodyTooLarge
        if not inflater.eof:
            raise IngestError("the body is not complete gzip: it ends inside the compressed data (cut off?)")
        data = inflater.unused_data
        if not data:
            return bytes(out)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_IN_ERROR])
    more = len(names) - MAX_NAMES_IN_ERROR
    return f"{shown} and {more} more" if more > 0 else shown


def _partial_write_message(result: IngestResult) -> str:
    parts = []
    if result.unknown_hosts:
        parts.append(
            f"unknown hosts {_names(result.unknown_hosts)} (register them under /api/hosts/ "
            "or set AUTOMIGRATE_INGEST_AUTO_REGISTER_HOSTS=1)"
        )
    if result.unknown_guests:
        parts.append(f"unknown guests {_names(result.unknown_guests)} (register them under /api/guests/)")
    return f"partial write: {'; '.join(parts)} dropped={result.dropped}"


@csrf_exempt
def write(request: HttpRequest) -> HttpResponse:
    """Store line-protocol samples. `db` is accepted for compatibility; there is one store."""
    if request.method != "POST":
        return _error(405, "use POST /write", Allow="POST")
    user = request_user(request)
    if user is None:
        return _error(401, "authorization failed: send a Token, Basic auth, or u and p query parameters")
    if not may_write_metrics(user):
        return _error(403, f"user {user.get_username()} may not write metrics: needs the operators group, "
                           f"staff, or the {WRITE_PERMISSION} permission")
    if not storage.stores_samples():
        # An external store is the one copy of the metrics: nothing of the kind is kept here.
        telemetry.increment("samples_refused", reason="external_source")
        return _error(400, f"this automigrate reads its metrics from {settings.AUTOMIGRATE['METRIC_SOURCE']}"
                           " (AUTOMIGRATE_METRIC_SOURCE) and stores none: send them there, not to /write")
    try:
        result = ingest(_read_body(request), request.GET.get("precision", ""))
    except BodyTooLarge:
        telemetry.increment("samples_refused", reason="request_too_large")
        return _error(413, f"request too large: at most {MAX_BODY_BYTES} bytes (uncompressed)")
    except IngestError as exc:
        telemetry.increment("samples_refused", reason="request_refused")
        return _error(exc.status, exc.message)
    _count(result)
    counts = {
        "X-Automigrate-Stored": str(result.stored),
        "X-Automigrate-Ignored-Fields": str(result.ignored_fields),
    }
    if result.unknown_hosts or result.unknown_guests:
        # Like InfluxDB's partial write: the known samples are stored, the rest named.
        return _error(400, _partial_write_message(result), **counts)
    return HttpResponse(status=204, headers={**VERSION_HEADER, **counts})


def _count(result: IngestResult) -> None:
    """Samples stored and refused, for /metrics (services.telemetry)."""
    telemetry.increment("samples_ingested", result.host_samples, kind="host")
    telemetry.increment("samples_ingested", result.guest_samples, kind="guest")
    telemetry.increment("samples_refused", result.dropped, reason="dropped")
    unknown = len(result.unknown_hosts) + len(result.unknown_guests)
    telemetry.increment("samples_refused", unknown, reason="unknown_name")


@csrf_exempt
def ping(request: HttpRequest) -> HttpResponse:
    """InfluxDB clients check the server with /ping. Unlike InfluxDB, we want
    credentials here too: nothing of ours answers an anonymous caller."""
    if request_user(request) is None:
        return _error(401, "authorization failed: send a Token, Basic auth, or u and p query parameters")
    return HttpResponse(status=204, headers=VERSION_HEADER)
