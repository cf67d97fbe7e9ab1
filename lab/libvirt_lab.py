"""A two-host libvirt + QEMU lab on one machine: `make lab`, `make lab-down`, and the tests' fixture.

Each "host" is its own libvirtd in its own mount namespace (``unshare -m``), with
its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
/var/log/libvirt bind-mounted from the lab folder, its own ``host_uuid`` (libvirt
refuses to migrate to a host with the same UUID), its own TCP port on 127.0.0.1
and its own range of migration ports. Guests are tiny diskless QEMU (TCG)
machines booting our own kernel (lab/guest/, built here with gcc -m32), so
nothing is downloaded and a live migration copies real, dirty memory.

Needs root, unshare, libvirtd and qemu-system-x86 (Debian: libvirt-daemon-system
libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86) and gcc-multilib.

    python lab/libvirt_lab.py up [--dir var/lab] [--port 16601] [--no-guests]
    python lab/libvirt_lab.py env [--dir var/lab]
    python lab/libvirt_lab.py down [--dir var/lab]

Only the standard library and the libvirt binding are used; the daemons are
stopped by the pids the lab recorded, never by name.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST_SOURCE = HERE / "guest"
REQUIRED = ("libvirtd", "qemu-system-x86_64", "unshare", "gcc", "make")
# The lab's own namespace for host UUIDs: stable across restarts of the same lab folder.
UUID_NAMESPACE = uuid.UUID("5b0c3f4e-1d2a-4c59-9a57-6c61622d6c76")
MOUNTED = ("etc", "run", "lib", "cache", "log")
MOUNT_POINTS = {
    "etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt", "log": "/var/log/libvirt",
}
# (host index, name, memory MiB, kernel command line) of the demo guests `up` defines.
# lab-h1 runs four guests that each keep 20 % of a CPU busy (the host: ~40 % of its 2 CPUs),
# lab-h2 one idle guest. The lab rule (automigrate/services/demo.py: cpu above 25 % over 1 min) fires on lab-h1
# and moves two of them to lab-h2, after which both hosts are at ~20 %: no ping-pong. Four small
# guests rather than one hot one, so it works whether this machine gives them all they ask or
# only half (a host is "hot" by what its guests really got).
DEMO_GUESTS = (
    (0, "lab-vm-1", 64, "load=20 dirty=4"),
    (0, "lab-vm-2", 64, "load=20 dirty=4"),
    (0, "lab-vm-3", 64, "load=20 dirty=4"),
    (0, "lab-vm-4", 64, "load=20 dirty=4"),
    (1, "lab-idle", 64, "dirty=4"),
)


class LabError(RuntimeError):
    """The lab cannot start here; the message says what is missing, in one line."""


def missing_tools() -> list[str]:
    found = [tool for tool in REQUIRED if shutil.which(tool) or Path("/usr/sbin", tool).exists()]
    return [tool for tool in REQUIRED if tool not in found]


def _libvirt():
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)  # errors are raised; don't also print them
    return libvirt


@dataclass(frozen=True)
class LabHost:
    name: str
    folder: Path
    port: int
    migration_ports: tuple[int, int]
    host_uuid: str

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    @property
    def pid_file(self) -> Path:
        return self.folder / "run" / "lab-libvirtd.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None


def _migration_ports(port: int) -> tuple[int, int]:
    """50 migration ports of the host listening on ``port``: labs on other ports never overlap."""
    low = 40000 + (port % 500) * 50
    return low, low + 49


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


class Lab:
    def __init__(self, folder: str | Path, port: int = 16601, hosts: int = 2, prefix: str = "lab-h"):
        self.folder = Path(folder).resolve()
        self.hosts = [
            LabHost(
                name=f"{prefix}{i + 1}", folder=self.folder / f"h{i + 1}", port=port + i,
                migration_ports=_migration_ports(port + i),
                host_uuid=str(uuid.uuid5(UUID_NAMESPACE, f"{self.folder}:{i}")),
            )
            for i in range(hosts)
        ]
        self.kernel = self.folder / "kernel.elf"
        self.serial_dir = self.folder / "serial"

    # --- environment -------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The settings automigrate needs to use this lab."""
        return {
            "AUTOMIGRATE_PLATFORM": "libvirt",
            "AUTOMIGRATE_LIBVIRT_HOSTS": ",".join(f"{h.name}={h.uri}" for h in self.hosts),
            # Both daemons share 127.0.0.1: the migration stream must be told so (see README).
            "AUTOMIGRATE_LIBVIRT_MIGRATION_HOST": "127.0.0.1",
            "AUTOMIGRATE_METRIC_SOURCE": "libvirt",
            # Both "hosts" are the same machine: a host's CPU is what its guests use.
            "AUTOMIGRATE_LIBVIRT_HOST_CPU": "guests",
        }

    def uri(self, host_name: str) -> str:
        return next(h.uri for h in self.hosts if h.name == host_name)

    # --- up ----------------------------------------------------------------

    def up(self, timeout: float = 90) -> None:
        missing = missing_tools()
        if missing:
            raise LabError(f"the libvirt lab needs {', '.join(missing)} (see README: make lab)")
        if os.geteuid() != 0:
            raise LabError("the libvirt lab needs root (libvirtd system daemons in their own mount namespaces)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.serial_dir.mkdir(exist_ok=True)
        self.build_kernel()
        started = [h for h in self.hosts if h.pid() is None and self._start_daemon(h)]
        errors: list[str] = []

        def warm(host: LabHost) -> None:
            # The first connection makes libvirtd probe QEMU (~4 s): both at once.
            try:
                self._wait_ready(host, timeout)
            except LabError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=warm, args=(h,)) for h in self.hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            if started:
                self.down()
            raise LabError("; ".join(errors))

    def build_kernel(self) -> Path:
        subprocess.run(
            ["make", "-s", "-C", str(GUEST_SOURCE), f"OUT={self.kernel}"], check=True,
            stdout=subprocess.DEVNULL,
        )
        return self.kernel

    def _write_config(self, host: LabHost) -> None:
        for sub in MOUNTED:
            (host.folder / sub).mkdir(parents=True, exist_ok=True)
        etc = host.folder / "etc"
        if not (etc / "qemu").exists() and Path("/etc/libvirt").is_dir():
            shutil.copytree("/etc/libvirt", etc, dirs_exist_ok=True, symlinks=True)
        # No default network (it would want dnsmasq); the lab's guests have no NIC.
        shutil.rmtree(etc / "qemu" / "networks" / "autostart", ignore_errors=True)
        (etc / "libvirtd.conf").write_text(
            "listen_tcp = 1\nlisten_tls = 0\n"
            f'listen_addr = "127.0.0.1"\ntcp_port = "{host.port}"\n'
            'auth_tcp = "none"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
            f'host_uuid = "{host.host_uuid}"\n'
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'
        )
        low, high = host.migration_ports
        (etc / "qemu.conf").write_text(
            'security_driver = "none"\nuser = "root"\ngroup = "root"\ndynamic_ownership = 0\n'
            "cgroup_controllers = [ ]\nnamespaces = [ ]\n"
            'stdio_handler = "file"\n'  # no virtlogd
            f"migration_port_min = {low}\nmigration_port_max = {high}\n"
        )

    def _start_daemon(self, host: LabHost) -> bool:
        self._write_config(host)
        Path("/run/libvirt").mkdir(parents=True, exist_ok=True)  # the bind mount needs a mount point
        mounts = " && ".join(
            f"mount --bind {host.folder / sub} {MOUNT_POINTS[sub]}" for sub in MOUNTED
        )
        command = (
            f"{mounts} && exec libvirtd --listen -f /etc/libvirt/libvirtd.conf "
            f"--pid-file /run/libvirt/lab-libvirtd.pid"
        )
        log = open(host.folder / "daemon.log", "ab")  # noqa: SIM115 - handed to the daemon
        # unshare execs in place (no --fork), so this pid is libvirtd's.
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", command],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        (host.folder / "lab-daemon.pid").write_text(str(proc.pid))
        return True

    def _wait_ready(self, host: LabHost, timeout: float) -> None:
        libvirt = _libvirt()
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                conn = libvirt.open(host.uri)
            except libvirt.libvirtError as exc:
                last = str(exc)
                time.sleep(0.2)
                continue
            try:
                conn.getCapabilities()
                conn.getDomainCapabilities(None, "x86_64", None, "qemu")
            finally:
                conn.close()
            return
        log_file = host.folder / "daemon.log"
        log = log_file.read_text(errors="replace")[-500:] if log_file.exists() else ""
        raise LabError(f"{host.name}: libvirtd did not answer on {host.uri} in {timeout:.0f} s ({last}) {log}")

    # --- guests ------------------------------------------------------------

    def serial_log(self, name: str) -> Path:
        return self.serial_dir / f"{name}.log"

    def domain_xml(self, name: str, memory_mib: int = 64, cmdline: str = "", vcpus: int = 1) -> str:
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{self.kernel}</kernel><cmdline>{cmdline}</cmdline></os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{self.serial_log(name)}' append='on'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>"""

    def start_guest(self, host_name: str, name: str, memory_mib: int = 64, cmdline: str = "",
                    persistent: bool = True, vcpus: int = 1):
        """Define (persistent) or create (transient) and start a guest; returns its libvirt UUID."""
        libvirt = _libvirt()
        conn = libvirt.open(self.uri(host_name))
        try:
            xml = self.domain_xml(name, memory_mib, cmdline, vcpus)
            if persistent:
                dom = conn.defineXML(xml)
                dom.create()
            else:
                dom = conn.createXML(xml, 0)
            return dom.UUIDString()
        finally:
            conn.close()

    def remove_guests(self, host_name: str | None = None) -> None:
        """Destroy and undefine every guest (of one host, or all)."""
        libvirt = _libvirt()
        for host in self.hosts:
            if host_name not in (None, host.name) or host.pid() is None:
                continue
            try:
                conn = libvirt.open(host.uri)
            except libvirt.libvirtError:
                continue
            try:
                for dom in conn.listAllDomains():
                    with contextlib.suppress(libvirt.libvirtError):
                        if dom.isActive():
                            with contextlib.suppress(libvirt.libvirtError):
                                dom.abortJob()
                            dom.destroy()
                    with contextlib.suppress(libvirt.libvirtError):
                        dom.undefine()
            finally:
                conn.close()

    def where(self, name: str) -> dict[str, str]:
        """host name -> state ("running", "paused", "shutoff", …) of the guest ``name``, on every host."""
        states = {1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed"}
        libvirt = _libvirt()
        found = {}
        for host in self.hosts:
            conn = libvirt.open(host.uri)
            try:
                with contextlib.suppress(libvirt.libvirtError):
                    found[host.name] = states.get(conn.lookupByName(name).state()[0], "other")
            finally:
                conn.close()
        return found

    # --- down --------------------------------------------------------------

    def down(self) -> None:
        """Stop the guests and the daemons by their recorded pids, then remove the lab folder."""
        with contextlib.suppress(Exception):
            self.remove_guests()
        pids = []
        for host in self.hosts:
            qemu_pids = (host.folder / "run" / "qemu").glob("*.pid")
            for pid_file in [host.pid_file, host.folder / "lab-daemon.pid", *qemu_pids]:
                with contextlib.suppress(OSError, ValueError):
                    pids.append(int(pid_file.read_text().strip()))
        for pid in set(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            for pid in pids:  # reap our own children (the tests start the daemons)
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)

    def running(self) -> bool:
        return all(h.pid() is not None for h in self.hosts)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A two-host libvirt + QEMU lab on this machine.")
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--dir", default=os.environ.get("AUTOMIGRATE_LAB_DIR", "var/lab"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AUTOMIGRATE_LAB_PORT", "16601")))
    parser.add_argument("--no-guests", action="store_true", help="start the daemons only")
    args = parser.parse_args(argv)
    lab = Lab(args.dir, port=args.port)
    if args.action == "down":
        lab.down()
        print(f"lab in {lab.folder} stopped and removed")
        return 0
    if args.action == "up":
        if not lab.running():
            busy = [h.port for h in lab.hosts if h.pid() is None and not _port_free(h.port)]
            if busy:
                print(f"port(s) {busy} already in use: choose another --port", file=sys.stderr)
                return 2
        try:
            lab.up()
        except (LabError, subprocess.CalledProcessError) as exc:
            print(f"lab: {exc}", file=sys.stderr)
            return 1
        if not args.no_guests:
            present = {}
            for host in lab.hosts:
                present.update({name: host.name for name in lab_guests(lab, host)})
            for index, name, memory, cmdline in DEMO_GUESTS:
                if name not in present:
                    lab.start_guest(lab.hosts[index].name, name, memory, cmdline)
        for host in lab.hosts:
            print(f"# {host.name}: {host.uri} (host UUID {host.host_uuid}) guests: {', '.join(lab_guests(lab, host))}")
    print("# the environment for automigrate (then: make run):")
    for key, value in {**lab.env(), "AUTOMIGRATE_LIBVIRT_LAB": "1"}.items():
        print(f"export {key}='{value}'")
    return 0


def lab_guests(lab: Lab, host: LabHost) -> list[str]:
    libvirt = _libvirt()
    conn = libvirt.open(host.uri)
    try:
        return sorted(d.name() for d in conn.listAllDomains())
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
