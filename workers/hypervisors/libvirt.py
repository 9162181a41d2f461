"""libvirt/QEMU guests driven with `virsh` over the node's SSH session.

The guest's NIC is `<interface type='ethernet'>` on a tap named after the VM's vnet,
created beforehand (`managed='no'`) so that the node sets the cluster gateway IP/MAC on
it and routes the guest's /32 to it. The guest learns its address from the kernel
command line (`fabric.ip=`, `fabric.gw=`), which the project's lab images read; cloud
images would read the same values from their metadata.
"""

import shlex
from dataclasses import dataclass

import jinja2

from workers.errors import HypervisorError
from workers.hypervisors.base import GuestSpec, host_side_routing, run_script
from workers.render import TEMPLATES_DIR
from workers.ssh import SSHSession

GUEST_DIR = "/var/lib/fabric-portal/guests"

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
    cmdline = f"console=ttyS0 fabric.ip={guest.ipv4} fabric.gw={guest.gateway_ipv4}"
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


class LibvirtDriver:
    name = "libvirt"

    def __init__(self, *, domain_type: str = "kvm", virsh: str = "virsh"):
        self.domain_type = domain_type
        self.virsh = virsh

    def _virsh(self, session: SSHSession, args: str, *, check: bool = True):
        return session.run(f"{self.virsh} {args}", check=check, timeout=120)

    def exists(self, session: SSHSession, guest: GuestSpec) -> bool:
        return self._virsh(session, f"dominfo {guest.name}", check=False).ok

    def create(self, session: SSHSession, guest: GuestSpec) -> None:
        xml_path = f"{GUEST_DIR}/{guest.name}.xml"
        session.write_file_atomic(xml_path, domain_xml(guest, domain_type=self.domain_type))
        vnet = shlex.quote(guest.vnet)
        run_script(
            session, [f"ip link show {vnet} >/dev/null 2>&1 || ip tuntap add {vnet} mode tap"]
        )
        self._virsh(session, f"define {xml_path}")

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        run_script(session, host_side_routing(guest))

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        vnet = shlex.quote(guest.vnet)
        run_script(session, [f"ip route del {guest.ipv4}/32 dev {vnet} 2>/dev/null || true"])

    def start(self, session: SSHSession, guest: GuestSpec) -> None:
        state = self._virsh(session, f"domstate {guest.name}").stdout.strip()
        if state != "running":
            self._virsh(session, f"start {guest.name}")

    def stop(self, session: SSHSession, guest: GuestSpec) -> None:
        state = self._virsh(session, f"domstate {guest.name}", check=False).stdout.strip()
        if state == "running":
            self._virsh(session, f"destroy {guest.name}")

    def delete(self, session: SSHSession, guest: GuestSpec) -> None:
        self._virsh(session, f"destroy {guest.name}", check=False)
        self._virsh(session, f"undefine {guest.name}", check=False)
        vnet = shlex.quote(guest.vnet)
        run_script(
            session,
            [
                f"ip link del {vnet} 2>/dev/null || true",
                f"rm -f {GUEST_DIR}/{guest.name}.xml {GUEST_DIR}/{guest.name}.console.log",
            ],
        )
