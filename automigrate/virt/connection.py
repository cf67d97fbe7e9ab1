"""Bounded libvirt connections and libvirt errors as one readable line.

Opening a connection is where libvirt hangs in practice (an SSH or TLS
handshake to a host that accepts the TCP connection and never answers), so
it is always bounded by LIBVIRT_CONNECT_TIMEOUT_SECONDS; callers bound their
whole operation on top (``call_bounded``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.virt.config import conf


class LibvirtUnavailable(RuntimeError):
    """The libvirt binding is not installed."""


def binding() -> Any:
    """The ``libvirt`` module, with libvirt's own printing of errors to stderr turned off."""
    try:
        import libvirt
    except ImportError as exc:
        raise LibvirtUnavailable(
            "the libvirt Python binding is not installed: pip install libvirt-python (see requirements.txt)"
        ) from exc
    libvirt.registerErrorHandler(lambda *_: None, None)  # we raise them, readable, instead
    return libvirt


# libvirt error code -> what it means for a migration, in words an admin reads in the event log.
# Codes from libvirt's virErrorNumber; messages seen on libvirt 9.
MEANINGS = {
    3: "not supported by this libvirt driver",
    9: "the guest's name is already taken on the destination",
    38: "host unreachable",
    42: "no such guest",
    55: "not possible in the guest's current state",
    74: "not supported by this host",
    78: "the migration was aborted",
    86: "authentication failed",
}


def error_line(exc: BaseException, doing: str) -> str:
    """``doing: meaning: libvirt's message (libvirt code N)`` on one line."""
    libvirt = binding()
    if isinstance(exc, CallTimedOut):
        return f"{doing}: {exc}"
    if not isinstance(exc, libvirt.libvirtError):
        return f"{doing}: {exc.__class__.__name__}: {' '.join(str(exc).split())}"
    code = exc.get_error_code()
    message = " ".join((exc.get_error_message() or str(exc)).split())
    meaning = MEANINGS.get(code, "")
    if code == 1 and "same host" in message:
        meaning = "source and destination are the same host (same host UUID)"
    elif code == 55 and "another migration job" in message:
        meaning = "a migration of this guest is already running"
    elif code == 55 and "not running" in message:
        meaning = "the guest is not running"
    return f"{doing}: {meaning + ': ' if meaning else ''}{message} (libvirt code {code})"


def error_code(exc: BaseException) -> int | None:
    libvirt = binding()
    return exc.get_error_code() if isinstance(exc, libvirt.libvirtError) else None


def open_connection(uri: str, seconds: float | None = None):
    """A libvirt connection to ``uri``, opened within ``seconds`` (default LIBVIRT_CONNECT_TIMEOUT_SECONDS).

    Raises libvirt's error, or CallTimedOut naming the URI.
    """
    libvirt = binding()
    seconds = float(conf("CONNECT_TIMEOUT_SECONDS") if seconds is None else seconds)
    return call_bounded(libvirt.open, uri, seconds=seconds, what=f"libvirt connection to {safe_uri(uri)}")


@contextlib.contextmanager
def connected(uri: str, seconds: float | None = None) -> Iterator[Any]:
    conn = open_connection(uri, seconds)
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def safe_uri(uri: str) -> str:
    """The URI without a password (qemu+ssh://user:secret@host → qemu+ssh://user@host)."""
    return re.sub(r"//([^/@:]+):[^/@]*@", r"//\1@", uri)
