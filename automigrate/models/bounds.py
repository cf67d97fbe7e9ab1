"""The ranges a host, guest or rule may have, in one place.

The same bounds serve as model field validators (admin and API name the
field), as the rule service's checks (CLI, API, admin forms) and as the
database's CheckConstraints (a raw ``update()`` cannot store nonsense either).
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from automigrate.engine.model import CPU, MEM
from automigrate.units import MAX_PERIOD_SECONDS, MIN_PERIOD_SECONDS

# No host has a petabyte of memory: a larger memory threshold is a typo (or 1e300).
MAX_MEM_THRESHOLD_BYTES = 1024**5
MAX_CPU_THRESHOLD_PERCENT = 100.0
# A host whose memory size nobody told us (auto-registered without telegraf's mem
# `total`) is kept at this size, disabled, until an operator fills it in; and no
# mem.available sample above it is believed for any host. 1 PiB: see MAX_MEM_THRESHOLD_BYTES.
UNKNOWN_MEM_TOTAL_BYTES = MAX_MEM_THRESHOLD_BYTES
# Names (hosts, guests, rules) are CharField(max_length=200).
NAME_MAX_LENGTH = 200


@deconstructible
class MoreThanZero:
    """A count or size that must be above 0, with what it counts in the message."""

    code = "not_positive"

    def __init__(self, what: str):
        self.what = what

    def __call__(self, value) -> None:
        if value is None or not value > 0:
            raise ValidationError(f"{self.what} must be more than 0, got {value}", code=self.code)

    def __eq__(self, other) -> bool:
        return isinstance(other, MoreThanZero) and other.what == self.what

    def __hash__(self) -> int:
        return hash(self.what)


def period_problem(seconds) -> str | None:
    """Why a rule period (seconds) is not allowed, or None."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(seconds):
        return f"{seconds!r} is not a number of seconds"
    if seconds < MIN_PERIOD_SECONDS:
        return f"{seconds}s is shorter than the minimum period of {MIN_PERIOD_SECONDS}s"
    if seconds > MAX_PERIOD_SECONDS:
        return f"{seconds}s is too long: at most {MAX_PERIOD_SECONDS // 86400}d"
    return None


def validate_period_seconds(seconds) -> None:
    """Model field validator of MigrationRule.period_seconds."""
    problem = period_problem(seconds)
    if problem:
        raise ValidationError(problem, code="period_range")


def threshold_problem(metric: str, value: float, shown: str | None = None) -> str | None:
    """Why ``value`` is not a threshold of ``metric`` (CPU: 0 < t <= 100 %; memory: 0 < t <= 1P bytes), or None."""
    shown = shown if shown is not None else f"{value:g}" if isinstance(value, float) else str(value)
    if metric == MEM:
        if not value > 0:  # also NaN
            return "a mem.available threshold must be more than 0 bytes"
        if value > MAX_MEM_THRESHOLD_BYTES:
            return f"'{shown}' is too large: a mem.available threshold is at most 1P"
        if value != int(value):
            return f"'{shown}' is not a whole number of bytes"
        return None
    if metric == CPU and not 0 < value <= MAX_CPU_THRESHOLD_PERCENT:  # NaN fails too
        return f"{shown} is out of range: a cpu.usage_active threshold is 0 < t <= 100"
    return None
