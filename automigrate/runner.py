"""`make run`'s process runner: web, Celery worker and beat, a quiet console, a clean Ctrl-C.

    python -m automigrate.runner

Replaces honcho for the development start-up because it must:

* print the login and the URLs once, when the web server answers (not
  somewhere above a hundred start-up lines);
* keep the console quiet: Celery at WARNING (the watcher runs every 5 s and
  would log each run), request lines only for errors;
* end on Ctrl-C with exit status 0 and no error lines. The runner takes the
  terminal's foreground for itself and starts each child in its own process
  group, so Ctrl-C reaches only the runner (not make, not the children); it
  then stops the children with SIGTERM, waits, gives the terminal back, exits 0.

Production runs the three processes under a real supervisor (README).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

STOP_SECONDS = 20  # Celery's warm shutdown finishes the task at hand; then SIGKILL
READY_SECONDS = 90
BANNER_DELAY_SECONDS = 3


def _processes(bind: str) -> dict[str, list[str]]:
    python = sys.executable
    celery = str(Path(python).with_name("celery"))
    level = os.environ.get("AUTOMIGRATE_CONSOLE_LOG_LEVEL", "WARNING")
    return {
        "web": [python, "manage.py", "runserver", bind, "--noreload"],
        # Every queue (settings.CELERY_QUEUES_ALL): one worker for sampling, evaluation and watching.
        "worker": [celery, "--quiet", "-A", "automigrate", "worker", "-Q", "sampling,evaluation,watching",
                   f"--loglevel={level}", "--concurrency=2", "--without-gossip", "--without-mingle"],
        "beat": [celery, "--quiet", "-A", "automigrate", "beat", f"--loglevel={level}"],
    }


def _pump(name: str, stream, lock: threading.Lock) -> None:
    """Each child's lines, prefixed with its name, as honcho shows them."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line:
            with lock:
                sys.stdout.write(f"{name:>6} | {line}\n")
                sys.stdout.flush()


def _wait_listening(host: str, port: int, children: dict[str, subprocess.Popen]) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children.values()):
            return False
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def _login_line(var_dir: Path) -> str:
    user = os.environ.get("AUTOMIGRATE_ADMIN_USER", "admin")
    password = os.environ.get("AUTOMIGRATE_ADMIN_PASSWORD")
    password_file = var_dir / "admin_password"
    if password is None and password_file.exists():
        password = password_file.read_text().strip()
    return f"log in as {user} / {password}" if password else f"log in as {user} (password set by you)"


def _banner(bind: str, var_dir: Path) -> str:
    base = f"http://{bind}"
    return "\n".join([
        "",
        "automigrate is running; " + _login_line(var_dir),
        f"  dashboard  {base}/",
        f"  admin      {base}/admin/",
        f"  API        {base}/api/  (docs {base}/api/docs/)",
        f"  metrics    {base}/metrics",
        "Ctrl-C stops web, worker and beat.",
        "",
    ])


class Foreground:
    """Own the terminal's foreground process group while running (so Ctrl-C reaches only us)."""

    def __init__(self) -> None:
        self.tty: int | None = None
        self.previous: int | None = None

    def __enter__(self):
        try:
            self.tty = os.open("/dev/tty", os.O_RDWR)
            self.previous = os.tcgetpgrp(self.tty)
            os.setpgid(0, 0)
            with _ignoring(signal.SIGTTOU):
                os.tcsetpgrp(self.tty, os.getpgrp())
        except OSError:
            self.tty = None  # no terminal (CI, a pipe): nothing to take
        return self

    def __exit__(self, *exc) -> None:
        if self.tty is None:
            return
        try:
            with _ignoring(signal.SIGTTOU):
                os.tcsetpgrp(self.tty, self.previous)
        except OSError:
            pass
        os.close(self.tty)


class _ignoring:
    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __enter__(self):
        self.old = signal.signal(self.signum, signal.SIG_IGN)

    def __exit__(self, *exc):
        signal.signal(self.signum, self.old)


def main() -> int:
    bind = os.environ.get("AUTOMIGRATE_BIND", "127.0.0.1:8000")
    host, _, port = bind.rpartition(":")
    var_dir = Path(os.environ.get("AUTOMIGRATE_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AUTOMIGRATE_QUIET_REQUESTS": "1"}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    lock = threading.Lock()
    with Foreground():
        children: dict[str, subprocess.Popen] = {}
        for name, command in _processes(bind).items():
            # Their own process group: the terminal's Ctrl-C is ours to handle, not theirs.
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, process_group=0)
            children[name] = child
            threading.Thread(target=_pump, args=(name, child.stdout, lock), daemon=True).start()
        if _wait_listening(host or "127.0.0.1", int(port), children):
            stop.wait(BANNER_DELAY_SECONDS)  # after the worker's and beat's own start-up lines
            with lock:
                print(_banner(bind, var_dir), flush=True)
        status = 0
        while not stop.is_set():
            ended = [name for name, child in children.items() if child.poll() is not None]
            if ended:
                with lock:
                    print(f"automigrate: {', '.join(ended)} stopped (exit {children[ended[0]].returncode});"
                          " stopping the others", flush=True)
                status = 1
                break
            stop.wait(0.5)
        _stop_all(children)
        if status == 0:
            print("automigrate: stopped.", flush=True)
    return status


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())
