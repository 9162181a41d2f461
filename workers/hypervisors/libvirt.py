"""libvirt/QEMU guests driven with `virsh` over the node's SSH session.

The guest's NIC is `<interface type='ethernet'>` on a tap named after the VM's vnet,
created beforehand (`managed='no'`) so that the node sets the cluster gateway IP/MAC on
it and routes the guest's /32 to it. The guest learns its address from the kernel
command line (`fabric.ip=`, `fabric.gw=`, `fabric.name=`), which the project's lab images
read; cloud images would read the same values from their metadata.

A guest whose image has a disk never writes to it: `create` first makes the guest's own
qcow2 overlay in the guest directory (`qemu-img create -b IMAGE`, the plan's `disk_gb` as
its size), and the domain's disk is that overlay. A guest sees the image's data and its
own writes, never another guest's; `delete` removes the overlay with the domain.

`create` defines and boots the guest and waits until its serial console (a file on the
node) shows the image's ready marker, so a guest that does not boot fails the
`hypervisor_create` step. Without a `state_dir` the driver talks to the system libvirtd
(`qemu:///system`); with one, to the private libvirtd that node setup started there
(hosts sharing one filesystem, such as lab nodes, each run their own).
"""

import json
import shlex
from dataclasses import dataclass

import jinja2

from workers.errors import HypervisorError
from workers.hypervisors.base import (
    GuestSpec,
    HypervisorDriver,
    host_side_routing,
    host_side_unrouting,
    run_script,
    wait_until_ready,
)
from workers.render import TEMPLATES_DIR
from workers.ssh import SSHSession

GUEST_DIR = "/var/lib/fabric-portal/guests"


@dataclass(frozen=True)
class LibvirtLayout:
    """Where a node's libvirt lives: the system's, or a private one under `state_dir`."""

    state_dir: str = ""

    @property
    def private_dir(self) -> str:
        """The private libvirtd's run, lib, cache, log and etc directories live here."""
        return f"{self.state_dir}/libvirt"

    @property
    def uri(self) -> str:
        if not self.state_dir:
            return "qemu:///system"
        return f"qemu+unix:///system?socket={self.private_dir}/run/libvirt-sock"

    @property
    def guest_dir(self) -> str:
        """Domain XMLs, serial console logs and disks (overlays) of the guests."""
        return f"{self.private_dir}/guests" if self.state_dir else GUEST_DIR

    def disk_path(self, guest: GuestSpec) -> str:
        """The guest's own disk: a qcow2 overlay on its image's disk."""
        return disk_path(guest, guest_dir=self.guest_dir)


def disk_path(guest: GuestSpec, *, guest_dir: str) -> str:
    return f"{guest_dir}/{guest.name}.qcow2"


BACKING_FORMATS = ("qcow2", "raw")  # what `qemu-img info` may call a catalog disk
GIB = 1024**3


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "hypervisors"),
    undefined=jinja2.StrictUndefined,
    autoescape=True,  # XML: values are escaped
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class DomainXml:
    name: str
    domain_type: str
    vcpus: int
    memory_mb: int
    vnet: str
    guest_mac: str
    kernel: str
    initrd: str
    cmdline: str
    disk: str
    console_log: str


def domain_xml(guest: GuestSpec, *, domain_type: str = "kvm", guest_dir: str = GUEST_DIR) -> str:
    """The libvirt domain of `guest`; `domain_type` is `kvm`, or `qemu` without VT-x.

    With a disk in its image, the domain's disk is the guest's overlay in `guest_dir`.
    """
    image = guest.image
    if image is None or not (image.kernel or image.disk):
        raise HypervisorError(f"guest {guest.guest_id} has no bootable image (kernel or disk)")
    cmdline = (
        f"console=ttyS0 quiet fabric.ip={guest.ipv4} fabric.gw={guest.gateway_ipv4} "
        f"fabric.name={guest.name}"
    )
    if guest.ipv6:
        cmdline += f" fabric.ip6={guest.ipv6} fabric.gw6={guest.gateway_ipv6}"
    return _templates.get_template("libvirt-domain.xml.j2").render(
        g=DomainXml(
            name=guest.name, domain_type=domain_type, vcpus=guest.vcpus,
            memory_mb=guest.memory_mb, vnet=guest.vnet, guest_mac=guest.guest_mac,
            kernel=image.kernel, initrd=image.initrd, cmdline=cmdline,
            disk=disk_path(guest, guest_dir=guest_dir) if image.disk else "",
            console_log=f"{guest_dir}/{guest.name}.console.log",
        )
    )  # fmt: skip


class LibvirtDriver(HypervisorDriver):
    name = "libvirt"

    def __init__(self, *, domain_type: str = "kvm", state_dir: str = "", virsh: str = "virsh"):
        self.domain_type = domain_type
        self.layout = LibvirtLayout(state_dir=state_dir)
        self.virsh = f"{virsh} -q -c {shlex.quote(self.layout.uri)}"

    def _virsh(self, session: SSHSession, args: str, *, check: bool = True):
        return session.run(f"{self.virsh} {args}", check=check, timeout=120)

    def _console_log(self, guest: GuestSpec) -> str:
        return f"{self.layout.guest_dir}/{guest.name}.console.log"

    def _state(self, session: SSHSession, guest: GuestSpec) -> str:
        """`running`, `shut off`, ... or "" when the domain does not exist."""
        result = self._virsh(session, f"domstate {guest.name}", check=False)
        return result.stdout.strip() if result.ok else ""

    def exists(self, session: SSHSession, guest: GuestSpec) -> bool:
        return self._virsh(session, f"dominfo {guest.name}", check=False).ok

    def create(self, session: SSHSession, guest: GuestSpec) -> None:
        """Define the domain on a fresh tap, boot it and wait until it is ready.

        Raises:
            HypervisorError: no bootable image; GuestBootTimeout: not ready in time.
        """
        xml = domain_xml(guest, domain_type=self.domain_type, guest_dir=self.layout.guest_dir)
        xml_path = f"{self.layout.guest_dir}/{guest.name}.xml"
        session.write_file_atomic(xml_path, xml)
        if guest.image is not None and guest.image.disk:
            self.ensure_disk(session, guest)
        vnet = shlex.quote(guest.vnet)
        run_script(
            session, [f"ip link show {vnet} >/dev/null 2>&1 || ip tuntap add {vnet} mode tap"]
        )
        self._virsh(session, f"define {xml_path}")
        self.start(session, guest)

    def ensure_disk(self, session: SSHSession, guest: GuestSpec) -> bool:
        """The guest's qcow2 overlay on its image's disk, `disk_gb` GiB; made unless it
        exists (a re-run after a crash keeps the guest's data). Returns whether it was made.

        Raises:
            HypervisorError: the image's disk is missing, of an unknown format, or larger
                than the plan's disk.
        """
        image, overlay = guest.image.disk, self.layout.disk_path(guest)
        if session.run(f"test -e {shlex.quote(overlay)}", check=False).ok:
            return False
        info = session.run(f"qemu-img info -U --output=json {shlex.quote(image)}", check=False)
        if not info.ok:
            raise HypervisorError(
                f"image disk {image} unreadable on the node: {info.stderr.strip()[-300:]}"
            )
        details = json.loads(info.stdout)
        fmt, size = details.get("format"), int(details.get("virtual-size", 0))
        if fmt not in BACKING_FORMATS:
            raise HypervisorError(f"image disk {image} is {fmt!r}, not one of {BACKING_FORMATS}")
        if size > guest.disk_gb * GIB:
            raise HypervisorError(
                f"image disk {image} is {size / GIB:g} GiB, larger than the plan's "
                f"{guest.disk_gb} GiB disk"
            )
        temp = shlex.quote(f"{overlay}.tmp")
        run_script(
            session,
            [
                f"qemu-img create -q -f qcow2 -b {shlex.quote(image)} -F {fmt} {temp} "
                f"{guest.disk_gb}G",
                f"mv {temp} {shlex.quote(overlay)}",  # whole or absent, even after a crash
            ],
        )
        return True

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        run_script(session, host_side_routing(guest))

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        run_script(session, host_side_unrouting(guest))

    def start(self, session: SSHSession, guest: GuestSpec) -> None:
        """Boot the guest unless it runs, then wait for its ready marker (this boot's)."""
        if self._state(session, guest) == "running":
            return
        log = shlex.quote(self._console_log(guest))
        session.run(f"rm -f {log}")  # the marker must come from this boot
        self._virsh(session, f"start {guest.name}")
        wait_until_ready(
            guest,
            lambda: session.run(f"tail -c 65536 {log} 2>/dev/null", check=False).stdout,
            running=lambda: self._state(session, guest) == "running",
        )

    def stop(self, session: SSHSession, guest: GuestSpec) -> None:
        """Power the guest off (immediately, like pulling the plug)."""
        if self._state(session, guest) == "running":
            self._virsh(session, f"destroy {guest.name}")

    def delete(self, session: SSHSession, guest: GuestSpec) -> None:
        """Remove the domain, its tap (with the gateway address and route) and its files,
        its disk included."""
        if self._state(session, guest):
            self.stop(session, guest)
            self._virsh(session, f"undefine {guest.name}")
        vnet, disk = shlex.quote(guest.vnet), shlex.quote(self.layout.disk_path(guest))
        run_script(
            session,
            [
                f"ip link del {vnet} 2>/dev/null || true",
                f"rm -f {self.layout.guest_dir}/{guest.name}.xml {self._console_log(guest)} "
                f"{disk} {disk}.tmp",
            ],
        )
