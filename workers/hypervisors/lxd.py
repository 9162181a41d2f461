"""LXD containers with a `routed` NIC, driven with `lxc` over the node's SSH session.

The routed NIC fits the IP fabric as it is: LXD puts the container's address on its
side, the cluster gateway (`ipv4.host_address`) on the host side named after the VM's
vnet, and routes the /32 there. The host side gets the cluster gateway MAC after start.
"""

import shlex

from workers.errors import HypervisorError
from workers.hypervisors.base import GuestSpec, host_side_routing, run_script
from workers.ssh import SSHSession


def nic_options(guest: GuestSpec) -> str:
    options = [
        "nictype=routed",
        f"ipv4.address={guest.ipv4}",
        f"ipv4.host_address={guest.gateway_ipv4}",
        f"host_name={guest.vnet}",
        f"hwaddr={guest.guest_mac}",
    ]
    if guest.ipv6:
        options.append(f"ipv6.address={guest.ipv6}")
        if guest.gateway_ipv6:
            options.append(f"ipv6.host_address={guest.gateway_ipv6}")
    return " ".join(shlex.quote(option) for option in options)


class LxdDriver:
    name = "lxd"

    def __init__(self, *, lxc: str = "lxc"):
        self.lxc = lxc

    def _lxc(self, session: SSHSession, args: str, *, check: bool = True):
        return session.run(f"{self.lxc} {args}", check=check, timeout=300)

    def exists(self, session: SSHSession, guest: GuestSpec) -> bool:
        return self._lxc(session, f"info {guest.name}", check=False).ok

    def create(self, session: SSHSession, guest: GuestSpec) -> None:
        if guest.image is None or not guest.image.lxd_alias:
            raise HypervisorError(f"guest {guest.guest_id} has no LXD image alias")
        self._lxc(
            session,
            f"init {shlex.quote(guest.image.lxd_alias)} {guest.name} "
            f"-c limits.cpu={guest.vcpus} -c limits.memory={guest.memory_mb}MiB",
        )

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        devices = self._lxc(session, f"config device list {guest.name}").stdout.split()
        if "eth0" not in devices:
            self._lxc(session, f"config device add {guest.name} eth0 nic {nic_options(guest)}")

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        self._lxc(session, f"stop {guest.name} --force", check=False)
        self._lxc(session, f"config device remove {guest.name} eth0", check=False)

    def start(self, session: SSHSession, guest: GuestSpec) -> None:
        state = self._lxc(session, f"list {guest.name} -c s --format csv").stdout.strip()
        if state != "RUNNING":
            self._lxc(session, f"start {guest.name}")
        # LXD gives the host side a random MAC; the fabric wants the cluster gateway MAC.
        run_script(session, host_side_routing(guest))

    def stop(self, session: SSHSession, guest: GuestSpec) -> None:
        self._lxc(session, f"stop {guest.name} --force", check=False)

    def delete(self, session: SSHSession, guest: GuestSpec) -> None:
        self._lxc(session, f"delete {guest.name} --force", check=False)
