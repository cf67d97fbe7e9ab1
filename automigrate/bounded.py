"""Time bounds for every call to something outside: drivers, platforms, metric sources.

A driver's poll that never returns, a libvirt connection stuck in a TCP
handshake, a metric server that accepts the request and never answers: none
of them may hold a Celery worker. ``call_bounded`` runs the call in a daemon
thread and stops waiting after ``seconds``; the caller gets ``CallTimedOut``,
which names the call, and treats it as that call failing. The thread itself
cannot be killed (Python has no way to), so it is left to finish or hang on
its own; being a daemon thread it never keeps the process alive.

A fresh thread per call (not a pool) on purpose: a pool's threads would all
end up stuck in the same hung peer, and then every later call would wait for
a free thread instead of failing on time.

Calls that repeat (a poll every watch interval) may pass ``key``: while an
earlier call with the same key is still stuck in this process, the next one
fails at once instead of leaving one more stuck thread behind, so a peer that
never answers costs one thread per key, not one per attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _close_thread_connections() -> None:
    """A call that used the ORM opened this thread's own connection: close it, or it leaks."""
    try:
        from django.db import connections
    except ImportError:  # used without Django
        return
    connections.close_all()


class CallTimedOut(TimeoutError):
    """An outside call did not answer within its bound; the message names the call."""

    def __init__(self, what: str, seconds: float, *, still_busy: bool = False):
        self.what = what
        self.seconds = seconds
        # True: not even tried, because the previous call with the same key is still stuck.
        self.still_busy = still_busy
        super().__init__(f"{what} did not answer in {seconds:g} s")


# key -> the thread of a call that has not returned yet (only calls given a key).
_stuck: dict[object, threading.Thread] = {}
_stuck_guard = threading.Lock()


def still_stuck(key: object) -> bool:
    """Whether a call made with ``key`` in this process has still not returned."""
    with _stuck_guard:
        thread = _stuck.get(key)
        if thread is not None and not thread.is_alive():
            del _stuck[key]
            thread = None
    return thread is not None


def call_bounded(
    fn: Callable[..., T], *args, seconds: float, what: str, key: object = None, **kwargs
) -> T:
    """``fn(*args, **kwargs)``, or ``CallTimedOut`` once ``seconds`` have passed.

    Exceptions raised by ``fn`` within the bound are re-raised unchanged.
    ``seconds <= 0`` means no bound (the call runs in the caller's thread).
    With ``key``, fails at once (``still_busy``) while an earlier call with that key is stuck.
    """
    if seconds <= 0:
        return fn(*args, **kwargs)
    if key is not None and still_stuck(key):
        raise CallTimedOut(what, seconds, still_busy=True)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the caller as is
            outcome["error"] = exc
        finally:
            _close_thread_connections()

    thread = threading.Thread(target=run, name=f"bounded: {what}"[:60], daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if key is not None:
            with _stuck_guard:
                _stuck[key] = thread
        raise CallTimedOut(what, seconds)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
