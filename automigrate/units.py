"""Parsing and printing the human units rules are written in: periods and sizes.

One place for both, used by admin forms, the API and the command line, so
`2m` and `8G` mean the same everywhere.
"""

import math
import re

_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# K, M, G, T, P are binary multiples, as in the reference: 8G = 8Gi = 8GiB = 8GB = 8 * 1024**3
# bytes. A lowercase "b" (8Gb) reads as bits, so it is refused rather than guessed.
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpKMGTP]?)([iI]?)([bB]?)\s*$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}

MIN_PERIOD_SECONDS = 10
# A rule checks at least daily: longer is surely a typo, and unbounded numbers
# overflow the database's integer column (PostgreSQL's integer ends at 2**31 - 1).
MAX_PERIOD_SECONDS = 86400


def parse_period(text: str | int | float, *, maximum: int = MAX_PERIOD_SECONDS) -> int:
    """'30s', '2m', '1h', '1d' or a number of seconds -> seconds, at most ``maximum``.

    ValueError says what is allowed, in one line.
    """
    shown = shown_input(text)
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _PERIOD.match(str(text))
        if not match:
            raise ValueError(f"'{shown}' is not a period: use a number with s, m, h or d, e.g. 30s, 2m, 1h")
        seconds = float(match.group(1)) * _PERIOD_UNITS[(match.group(2) or "s").lower()]
    # Before the other checks: int() of NaN or infinity raises.
    if math.isnan(seconds):
        raise ValueError(f"'{shown}' is not a period: use a number with s, m, h or d, e.g. 30s, 2m, 1h")
    if seconds > maximum:
        raise ValueError(f"'{shown}' is too long: at most {format_period(maximum)}")
    if seconds < MIN_PERIOD_SECONDS:
        raise ValueError(f"'{shown}' is shorter than the minimum period of {MIN_PERIOD_SECONDS}s")
    if seconds != int(seconds):
        raise ValueError(f"'{shown}' is not a whole number of seconds")
    return int(seconds)


def shown_input(text) -> str:
    """The input as an error message quotes it: long input cut, so the message stays one short line."""
    text = str(text)
    return text if len(text) <= 40 else f"{text[:37]}..."


def format_period(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_size(text: str | int | float) -> float:
    """'8G', '512M', '1.5T' (binary multiples; Gi, GiB and GB mean the same) or plain bytes -> bytes."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"'{shown_input(text)}' is not a size: use bytes or a number with K, M, G or T, e.g. 8G, 512M")
    number, unit, _, byte = match.groups()
    if byte == "b":
        raise ValueError(
            f"'{shown_input(text)}': a lowercase b means bits; write {number}{unit.upper() or 'B'}"
            " (sizes are binary bytes: G = Gi = GiB = GB)"
        )
    return float(number) * _SIZE_UNITS[unit.lower()]


def format_size(num_bytes: float) -> str:
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if abs(num_bytes) >= size:
            value = num_bytes / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{num_bytes:.0f}B"


GIB = _SIZE_UNITS["g"]


def format_gib(num_bytes: float, digits: int = 1) -> str:
    """Bytes as GiB with ``digits`` decimals, for tables and charts: '12.5 GiB'."""
    return f"{num_bytes / GIB:.{digits}f} GiB"
