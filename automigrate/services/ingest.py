"""Metric samples in: InfluxDB line protocol, as telegraf and InfluxDB clients send it.

What we keep (everything else is ignored and counted, never an error):

- ``cpu`` field ``usage_active`` of the ``cpu=cpu-total`` series -> host cpu.usage_active (%)
  (telegraf's cpu input with ``report_active = true``; per-core series are ignored)
- ``mem`` field ``available`` -> host mem.available (bytes)
- ``vm_cpu`` field ``usage_active`` -> guest cpu.usage_active (% of its own vCPUs)

Hosts and guests are found by the first tag present from
``AUTOMIGRATE["INGEST_HOST_TAGS"]`` / ``["INGEST_GUEST_TAGS"]``, whose value is
matched against the name first, then the external id.

A request is checked whole before anything is stored: one malformed line,
or one value its metric cannot have, refuses all of it (``IngestError``
naming the first bad line and its field). A value it cannot have is: a CPU
percent outside 0..100 beyond float noise; memory below 0 or above the
host's ``mem_total`` (hosts of unknown size: ``UNKNOWN_MEM_TOTAL_BYTES``,
1 PiB); NaN or infinity; a timestamp more than ``INGEST_MAX_FUTURE_SECONDS``
ahead of the server's clock or older than the sample retention; a host or
guest tag longer than a name may be. So no stored sample can overflow a mean.

Samples of unknown hosts or guests are dropped and their names returned, so
the caller can answer like InfluxDB's "partial write"; with auto-registration
on, unknown hosts are created instead, at most ``INGEST_MAX_NEW_HOSTS_PER_REQUEST``
per request and ``INGEST_MAX_NEW_HOSTS_PER_HOUR`` per hour (beyond that the
whole request is refused and no host is created).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from line_protocol_parser import LineFormatError, parse_line

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.models.bounds import NAME_MAX_LENGTH, UNKNOWN_MEM_TOTAL_BYTES
from automigrate.services import storage
from automigrate.sources import tags as tag_settings

# InfluxDB 1.x `precision` values -> nanoseconds per unit. Empty means nanoseconds.
PRECISIONS = {
    "": 1, "n": 1, "ns": 1,
    "u": 1_000, "us": 1_000, "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
CPU_TOTAL = "cpu-total"
AUTO_REGISTERED_LABEL = "auto-registered"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000
# Host.cpu_count is a PositiveIntegerField (int32 on PostgreSQL), mem_total a PositiveBigIntegerField.
MAX_CPU_COUNT = 2**31 - 1
MAX_MEM_TOTAL = 2**63 - 1


class IngestError(Exception):
    """The whole request is refused; ``message`` says why (and which line)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class IngestResult:
    host_samples: int = 0
    guest_samples: int = 0
    ignored_fields: int = 0
    registered_hosts: list[str] = field(default_factory=list)
    unknown_hosts: list[str] = field(default_factory=list)
    unknown_guests: list[str] = field(default_factory=list)
    dropped: int = 0

    @property
    def stored(self) -> int:
        return self.host_samples + self.guest_samples


@dataclass
class _Batch:
    """A parsed request: samples keyed by the tag value that names their host or guest."""

    # (tag value, metric, time, value, line number)
    host_points: list[tuple[str, str, datetime, float, int]] = field(default_factory=list)
    guest_points: list[tuple[str, datetime, float]] = field(default_factory=list)
    ignored_fields: int = 0
    # Capacities seen in the batch (telegraf's system.n_cpus, mem.total), for auto-registration.
    capacity: dict[str, dict[str, int]] = field(default_factory=dict)


def ingest(
    body: bytes | str,
    precision: str = "",
    *,
    auto_register: bool | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Parse a line-protocol request and store its samples; IngestError refuses it whole."""
    if precision not in PRECISIONS:
        raise IngestError(f"invalid precision '{precision}': use n, u, ms, s, m or h")
    if auto_register is None:
        auto_register = settings.AUTOMIGRATE["INGEST_AUTO_REGISTER_HOSTS"]
    text = _decode(body)
    now = now or timezone.now()
    batch = parse_batch(
        text,
        PRECISIONS[precision],
        host_tags=tag_settings.host_tags(),
        guest_tags=tag_settings.guest_tags(),
        now=now,
    )
    return store_batch(batch, auto_register=auto_register, now=now)


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"the body is not UTF-8 (byte {exc.start}): line protocol is UTF-8 text") from exc


# A CPU percent a little outside 0..100 is float noise (telegraf computes usage_active
# as 100 - idle from tick counts) and is clipped; further out it is a broken sender.
CPU_NOISE_PERCENT = 0.5


def _number(value, line_no: int, measurement: str, name: str) -> float:
    # bool is an int subclass; line protocol's t/f are not numbers to us.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IngestError(f"line {line_no}: {measurement} field {name} must be a finite number, got {value!r}")
    return float(value)


def _percent(value, line_no: int, measurement: str, name: str) -> float:
    number = _number(value, line_no, measurement, name)
    if not -CPU_NOISE_PERCENT <= number <= 100 + CPU_NOISE_PERCENT:
        raise IngestError(f"line {line_no}: {measurement} field {name} is a percent, 0 to 100, got {value!r}")
    return min(max(number, 0.0), 100.0)


def _bytes(value, line_no: int, measurement: str, name: str) -> float:
    number = _number(value, line_no, measurement, name)
    if number < 0:
        raise IngestError(f"line {line_no}: {measurement} field {name} is bytes, 0 or more, got {value!r}")
    return number


def _capacity(value, limit: int) -> int | None:
    """A CPU count or memory size for auto-registration; anything odd is treated as unknown."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit:
        return value
    return None


def _first_tag(tags: dict, names: list[str], line_no: int) -> str | None:
    """The value of the first tag present, refused if no host or guest could have it as a name."""
    for name in names:
        value = tags.get(name)
        if value:
            if len(value) > NAME_MAX_LENGTH:
                raise IngestError(
                    f"line {line_no}: tag {name} is {len(value)} characters long: a name is at most {NAME_MAX_LENGTH}"
                )
            if "\x00" in value:
                raise IngestError(f"line {line_no}: tag {name} contains a NUL character")
            return value
    return None


@dataclass(frozen=True)
class _TimeWindow:
    """The sample times a request may carry: not older than retention, not far in the future."""

    oldest: datetime
    newest: datetime

    @classmethod
    def around(cls, now: datetime) -> _TimeWindow:
        # Back to the history horizon, as telegraf sends what it buffered while we were down. A sample
        # older than its minute's roll-up stays raw (window means see it) until pruned (services.rollups).
        conf = settings.AUTOMIGRATE
        return cls(
            oldest=now - timedelta(days=float(conf["SAMPLE_RETENTION_DAYS"])),
            newest=now + timedelta(seconds=float(conf["INGEST_MAX_FUTURE_SECONDS"])),
        )

    def check(self, time: datetime, stamp: int, line_no: int) -> datetime:
        if time > self.newest:
            raise IngestError(
                f"line {line_no}: timestamp {stamp} ({time:%Y-%m-%dT%H:%M:%SZ}) is in the future: at most"
                f" {settings.AUTOMIGRATE['INGEST_MAX_FUTURE_SECONDS']:g} s ahead of the server's clock"
                " (AUTOMIGRATE_INGEST_MAX_FUTURE_SECONDS); check the sender's clock and the precision"
            )
        if time < self.oldest:
            raise IngestError(
                f"line {line_no}: timestamp {stamp} ({time:%Y-%m-%dT%H:%M:%SZ}) is older than the sample retention"
                f" of {settings.AUTOMIGRATE['SAMPLE_RETENTION_DAYS']:g} days (AUTOMIGRATE_SAMPLE_RETENTION_DAYS);"
                " check the sender's clock and the precision"
            )
        return time


def parse_batch(
    text: str, ns_per_unit: int, *, host_tags: list[str], guest_tags: list[str], now: datetime
) -> _Batch:
    """Every line parsed and checked; the first bad one raises IngestError with its number."""
    batch = _Batch()
    window = _TimeWindow.around(now)
    # Telegraf stamps a whole interval's lines alike: convert each timestamp once.
    times: dict[int, datetime] = {}
    for line_no, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            point = parse_line(line)
        except LineFormatError as exc:
            raise IngestError(f"line {line_no}: {exc}") from None
        if point is None:  # a comment
            continue
        measurement, tags, fields = point["measurement"], point["tags"], point["fields"]
        if measurement not in ("cpu", "mem", "vm_cpu", "system"):
            batch.ignored_fields += len(fields)
            continue
        stamp = point["time"]
        if stamp is None:
            time = now
        else:
            time = times.get(stamp)
            if time is None:
                time = times[stamp] = window.check(_to_datetime(stamp, ns_per_unit, line_no), stamp, line_no)

        if measurement == "vm_cpu":
            guest = _first_tag(tags, guest_tags, line_no)
            if "usage_active" in fields:
                if guest is None:
                    raise IngestError(f"line {line_no}: vm_cpu has none of the guest tags {', '.join(guest_tags)}")
                batch.guest_points.append(
                    (guest, time, _percent(fields["usage_active"], line_no, measurement, "usage_active"))
                )
            batch.ignored_fields += len(fields) - ("usage_active" in fields)
            continue

        host = _first_tag(tags, host_tags, line_no)
        if measurement == "system":
            # Only read for auto-registration; nothing from it is stored.
            cpu_count = _capacity(fields.get("n_cpus"), MAX_CPU_COUNT)
            if host is not None and cpu_count is not None:
                batch.capacity.setdefault(host, {})["cpu_count"] = cpu_count
            batch.ignored_fields += len(fields)
            continue

        if measurement == "cpu":
            wanted = "usage_active" if tags.get("cpu", CPU_TOTAL) == CPU_TOTAL else None
            metric, check = CPU, _percent
        else:
            wanted, metric, check = "available", MEM, _bytes
            mem_total = _capacity(fields.get("total"), MAX_MEM_TOTAL)
            if host is not None and mem_total is not None:
                batch.capacity.setdefault(host, {})["mem_total"] = mem_total
        if wanted is not None and wanted in fields:
            if host is None:
                raise IngestError(f"line {line_no}: {measurement} has none of the host tags {', '.join(host_tags)}")
            batch.host_points.append(
                (host, metric, time, check(fields[wanted], line_no, measurement, wanted), line_no)
            )
            batch.ignored_fields += len(fields) - 1
        else:
            batch.ignored_fields += len(fields)
    return batch


def _to_datetime(stamp: int, ns_per_unit: int, line_no: int) -> datetime:
    # Integer arithmetic: a float of nanoseconds since 1970 loses microseconds.
    seconds, nanos = divmod(stamp * ns_per_unit, _NS_PER_S)
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise IngestError(f"line {line_no}: timestamp {stamp} is out of range") from None


def _match(model, keys: set[str], *extra: str) -> dict[str, tuple]:
    """Tag value -> (primary key, *extra columns), by name first, then by external id."""
    if not keys:
        return {}
    by_name: dict[str, tuple] = {}
    by_external: dict[str, tuple] = {}
    rows = model.objects.filter(Q(name__in=keys) | Q(external_id__in=keys)).values_list(
        "pk", "name", "external_id", *extra
    )
    for pk, name, external_id, *values in rows:
        if name in keys:
            by_name[name] = (pk, *values)
        if external_id in keys:
            by_external.setdefault(external_id, (pk, *values))
    return {**by_external, **by_name}


def _check_registration_caps(names: list[str], now: datetime) -> None:
    """Refuse (nothing created) a request that would register more hosts than the caps allow."""
    conf = settings.AUTOMIGRATE
    per_request = int(conf["INGEST_MAX_NEW_HOSTS_PER_REQUEST"])
    if len(names) > per_request:
        raise IngestError(
            f"this request would register {len(names)} new hosts ({_first_names(names)}): at most {per_request}"
            " per request (AUTOMIGRATE_INGEST_MAX_NEW_HOSTS_PER_REQUEST); nothing was stored."
            " Register them under /api/hosts/ or send fewer at a time"
        )
    per_hour = int(conf["INGEST_MAX_NEW_HOSTS_PER_HOUR"])
    recent = Host.objects.filter(created_at__gte=now - timedelta(hours=1)).values_list("labels", flat=True)
    registered = sum(1 for labels in recent if AUTO_REGISTERED_LABEL in (labels or ()))
    if registered + len(names) > per_hour:
        raise IngestError(
            f"this request would register {len(names)} new hosts ({_first_names(names)}), and {registered} were"
            f" registered in the last hour: at most {per_hour} per hour (AUTOMIGRATE_INGEST_MAX_NEW_HOSTS_PER_HOUR);"
            " nothing was stored. Register them under /api/hosts/ or try again later"
        )


def _first_names(names: list[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _register_hosts(names: list[str], capacity: dict[str, dict[str, int]]) -> None:
    """Create hosts seen for the first time.

    A host whose CPU count and memory size were not both in the batch is
    created disabled, with placeholders for what is unknown (1 CPU,
    UNKNOWN_MEM_TOTAL_BYTES): with an unknown capacity the engine can
    neither score moves off it nor place guests on it. An operator
    completes and enables it.
    """
    hosts = []
    for name in names:
        known = capacity.get(name, {})
        hosts.append(
            Host(
                name=name,
                cpu_count=known.get("cpu_count", 1),
                mem_total=known.get("mem_total", UNKNOWN_MEM_TOTAL_BYTES),
                enabled="cpu_count" in known and "mem_total" in known,
                labels=[AUTO_REGISTERED_LABEL],
            )
        )
    # Two concurrent requests may register the same host: the loser's rows are skipped.
    Host.objects.bulk_create(hosts, ignore_conflicts=True)


def _check_memory(points: list[tuple[str, str, datetime, float, int]], hosts: dict[str, tuple]) -> None:
    """No mem.available above the host's memory size (the line names host and size)."""
    for key, metric, _, value, line_no in points:
        if metric != MEM or key not in hosts:
            continue
        mem_total = hosts[key][1]
        if value > mem_total:
            raise IngestError(
                f"line {line_no}: mem field available is {value:g} bytes, more than host {key}'s"
                f" mem_total of {mem_total} bytes"
            )


def store_batch(batch: _Batch, *, auto_register: bool, now: datetime | None = None) -> IngestResult:
    result = IngestResult(ignored_fields=batch.ignored_fields)
    host_keys = {point[0] for point in batch.host_points}
    guest_keys = {key for key, _, _ in batch.guest_points}
    with transaction.atomic():
        hosts = _match(Host, host_keys, "mem_total")
        unknown = sorted(host_keys - hosts.keys())
        if unknown and auto_register:
            _check_registration_caps(unknown, now or timezone.now())
            _register_hosts(unknown, batch.capacity)
            hosts.update(_match(Host, set(unknown), "mem_total"))
            result.registered_hosts = unknown
        else:
            result.unknown_hosts = unknown
        # Inside the transaction: a refused request leaves no host it registered behind.
        _check_memory(batch.host_points, hosts)
        guests = _match(Guest, guest_keys)
        result.unknown_guests = sorted(guest_keys - guests.keys())

        host_rows = [(hosts[key][0], metric, time, value) for key, metric, time, value, _ in batch.host_points
                     if key in hosts]
        guest_rows = [(guests[key][0], time, value) for key, time, value in batch.guest_points if key in guests]
        # A key (host, metric, time) or (guest, time) sent twice keeps the last value (services.storage).
        storage.write_samples(HostSample, ("host", "metric", "time", "value"), host_rows)
        storage.write_samples(GuestSample, ("guest", "time", "cpu"), guest_rows)
    result.host_samples = len(host_rows)
    result.guest_samples = len(guest_rows)
    result.dropped = len(batch.host_points) + len(batch.guest_points) - result.stored
    return result
