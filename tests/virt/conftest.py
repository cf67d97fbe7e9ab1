"""The real two-host libvirt lab (lab/libvirt_lab.py) for the libvirt tests, started once per session.

Skipped, with the reason, on a machine without libvirtd/QEMU or the Python binding;
never when CI=true (then a missing piece fails loudly). The lab uses its own folder and
ports, so it never meets a `make lab` running on the same machine, and it is torn down
(daemons and guests stopped by their pids) when the session ends.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from lab.libvirt_lab import Lab, LabError, missing_tools

LAB_PORT = int(os.environ.get("AUTOMIGRATE_TEST_LAB_PORT", "16641"))


def _unavailable() -> str:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "the libvirt Python binding is not installed (pip install -r requirements.txt)"
    missing = missing_tools()
    if missing:
        return f"the libvirt lab needs {', '.join(missing)} (apt-get install libvirt-daemon-system qemu-system-x86 …)"
    if os.geteuid() != 0:
        return "the libvirt lab needs root"
    return ""


def need(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def binding():
    try:
        import libvirt
    except ImportError:
        need("the libvirt Python binding is not installed (pip install -r requirements.txt)")
    return libvirt


@pytest.fixture(scope="session")
def lab():
    why = _unavailable()
    if why:
        need(why)
    folder = tempfile.mkdtemp(prefix="automigrate-libvirt-lab-")
    lab = Lab(folder, port=LAB_PORT)
    try:
        lab.up()
    except LabError as exc:
        lab.down()
        need(f"the libvirt lab did not start: {exc}")
    yield lab
    lab.down()


@pytest.fixture
def clean_lab(lab):
    """The lab with no guests, before and after the test."""
    lab.remove_guests()
    yield lab
    lab.remove_guests()


@pytest.fixture
def lab_settings(settings, lab):
    """automigrate configured for the lab, as `make lab` prints it."""
    env = lab.env()
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE,
        "PLATFORM": "libvirt",
        "DRIVER": "",
        "METRIC_SOURCE": "database",
        "LIBVIRT_HOSTS": env["AUTOMIGRATE_LIBVIRT_HOSTS"],
        "LIBVIRT_MIGRATION_HOST": env["AUTOMIGRATE_LIBVIRT_MIGRATION_HOST"],
        "LIBVIRT_HOST_CPU": "guests",
        "LIBVIRT_AUTO_CONVERGE": True,
        "LIBVIRT_BANDWIDTH_MIB_S": 0,
        "LIBVIRT_CONNECT_TIMEOUT_SECONDS": 5,
        "LIBVIRT_CALL_TIMEOUT_SECONDS": 10,
        # The tests run the watcher themselves; no Celery message into the project's broker folder.
        "LIBVIRT_NOTIFY_WATCHER": False,
        "COOLDOWN_MINUTES": 30,
        "MAX_IN_FLIGHT": 4,
        "MAX_IN_FLIGHT_PER_HOST": 2,
        "MIGRATION_TIMEOUT_BASE_SECONDS": 120,
        "MIGRATION_TIMEOUT_SECONDS_PER_GIB": 60,
    }
    return settings
