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
or one value its metric cannot have (a CPU percent outside 0..100 beyond
float noise, negative memory, NaN or infinity), refuses all of it
(``IngestError`` naming the first bad line). Samples of
unknown hosts or guests are dropped and their names returned, so the caller
can answer like InfluxDB's "partial write"; with auto-registration on,
unknown hosts are created instead.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from line_protocol_parser import LineFormatError, parse_line

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.sources import tags as tag_settings
from automigrate.sources.tags import first_tag, match_keys

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

    host_points: list[tuple[str, str, datetime, float]] = field(default_factory=list)
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
    batch = parse_batch(
        text,
        PRECISIONS[precision],
        host_tags=tag_settings.host_tags(),
        guest_tags=tag_settings.guest_tags(),
        now=now or timezone.now(),
    )
    return store_batch(batch, auto_register=auto_register)


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


def parse_batch(
    text: str, ns_per_unit: int, *, host_tags: list[str], guest_tags: list[str], now: datetime
) -> _Batch:
    """Every line parsed and checked; the first bad one raises IngestError with its number."""
    batch = _Batch()
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
                time = times[stamp] = _to_datetime(stamp, ns_per_unit, line_no)

        if measurement == "vm_cpu":
            guest = first_tag(tags, guest_tags)
            if "usage_active" in fields:
                if guest is None:
                    raise IngestError(f"line {line_no}: vm_cpu has none of the guest tags {', '.join(guest_tags)}")
                batch.guest_points.append(
                    (guest, time, _percent(fields["usage_active"], line_no, measurement, "usage_active"))
                )
            batch.ignored_fields += len(fields) - ("usage_active" in fields)
            continue

        host = first_tag(tags, host_tags)
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
            batch.host_points.append((host, metric, time, check(fields[wanted], line_no, measurement, wanted)))
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


def _register_hosts(names: list[str], capacity: dict[str, dict[str, int]]) -> None:
    """Create hosts seen for the first time.

    A host whose CPU count and memory size were not both in the batch is
    created disabled: with an unknown capacity the engine can neither score
    moves off it nor place guests on it. An operator completes and enables it.
    """
    hosts = []
    for name in names:
        known = capacity.get(name, {})
        hosts.append(
            Host(
                name=name,
                cpu_count=known.get("cpu_count", 1),
                mem_total=known.get("mem_total", 0),
                enabled="cpu_count" in known and "mem_total" in known,
                labels=[AUTO_REGISTERED_LABEL],
            )
        )
    # Two concurrent requests may register the same host: the loser's rows are skipped.
    Host.objects.bulk_create(hosts, ignore_conflicts=True)


def store_batch(batch: _Batch, *, auto_register: bool) -> IngestResult:
    result = IngestResult(ignored_fields=batch.ignored_fields)
    host_keys = {key for key, _, _, _ in batch.host_points}
    guest_keys = {key for key, _, _ in batch.guest_points}
    with transaction.atomic():
        hosts = match_keys(Host, host_keys)
        unknown = sorted(host_keys - hosts.keys())
        if unknown and auto_register:
            _register_hosts(unknown, batch.capacity)
            hosts.update(match_keys(Host, set(unknown)))
            result.registered_hosts = unknown
        else:
            result.unknown_hosts = unknown
        guests = match_keys(Guest, guest_keys)
        result.unknown_guests = sorted(guest_keys - guests.keys())

        host_rows = [(hosts[key], metric, time, value) for key, metric, time, value in batch.host_points
                     if key in hosts]
        guest_rows = [(guests[key], time, value) for key, time, value in batch.guest_points if key in guests]
        _insert(HostSample, ("host", "metric", "time", "value"), host_rows)
        _insert(GuestSample, ("guest", "time", "cpu"), guest_rows)
    result.host_samples = len(host_rows)
    result.guest_samples = len(guest_rows)
    result.dropped = len(batch.host_points) + len(batch.guest_points) - result.stored
    return result


def _insert(model, field_names: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk insert: COPY on PostgreSQL (several times faster than INSERT), bulk_create elsewhere."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if hasattr(cursor.cursor, "copy_expert"):  # psycopg2
                _copy(cursor, model._meta.db_table, [f.column for f in fields], rows)
                return
    attnames = [f.attname for f in fields]
    model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=2000)


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    # Our values need no COPY escaping, and str() of each is valid PostgreSQL input:
    # ints, fixed metric names, "2024-01-01 00:00:00+00:00" times, finite floats.
    buffer = io.StringIO("".join("\t".join(map(str, row)) + "\n" for row in rows))
    quote = connection.ops.quote_name
    cursor.copy_expert(f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN", buffer)
