"""libvirt/QEMU guests driven with `virsh` over the node's SSH session.

The guest's NIC is `<interface type='ethernet'>` on a tap named after the VM's vnet,
created beforehand (`managed='no'`) so that the node sets the cluster gateway IP/MAC on
it and routes the guest's /32 to it. The guest learns its address from the kernel
command line (`fabric.ip=`, `fabric.gw=`, `fabric.name=`), which the project's lab images
read; cloud images would read the same values from their metadata.

`create` defines and boots the guest and waits until its serial console (a file on the
node) shows the image's ready marker, so a guest that does not boot fails the
`hypervisor_create` step. Without a `state_dir` the driver talks to the system libvirtd
(`qemu:///system`); with one, to the private libvirtd that node setup started there
(hosts sharing one filesystem, such as lab nodes, each run their own).
"""

import shlex
from dataclasses import dataclass

import jinja2

from workers.errors import HypervisorError
from workers.hypervisors.base import (
    GuestSpec,
    HypervisorDriver,
    host_side_routing,
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
        """Domain XMLs and serial console logs of the guests."""
        return f"{self.private_dir}/guests" if self.state_dir else GUEST_DIR


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
    """The libvirt domain of `guest`; `domain_type` is `kvm`, or `qemu` without VT-x."""
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
            kernel=image.kernel, initrd=image.initrd, cmdline=cmdline, disk=image.disk,
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
        vnet = shlex.quote(guest.vnet)
        run_script(
            session, [f"ip link show {vnet} >/dev/null 2>&1 || ip tuntap add {vnet} mode tap"]
        )
        self._virsh(session, f"define {xml_path}")
        self.start(session, guest)

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        run_script(session, host_side_routing(guest))

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        vnet = shlex.quote(guest.vnet)
        run_script(session, [f"ip route del {guest.ipv4}/32 dev {vnet} 2>/dev/null || true"])

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
        """Remove the domain, its tap (with the gateway address and route) and its files."""
        if self._state(session, guest):
            self.stop(session, guest)
            self._virsh(session, f"undefine {guest.name}")
        vnet = shlex.quote(guest.vnet)
        run_script(
            session,
            [
                f"ip link del {vnet} 2>/dev/null || true",
                f"rm -f {self.layout.guest_dir}/{guest.name}.xml {self._console_log(guest)}",
            ],
        )
