"""LXD containers with a `routed` NIC, driven with `lxc` over the node's SSH session.

The routed NIC fits the IP fabric as it is: LXD puts the container's address and default
route on its side, the cluster gateway (`ipv4.host_address`) on the host side named after
the VM's vnet, and routes the /32 there. LXD gives that host side a random MAC each time
the container starts; the driver then sets the cluster gateway MAC (and proxy ARP, as on
every vnet) and flushes the container's stale neighbour entry for the gateway.

The container gets the plan's vCPUs and RAM (`limits.cpu`, `limits.memory`) and its root
disk the plan's size (`size=` on the root device). Only some storage drivers enforce that
size (`SIZE_ENFORCING_DRIVERS`); node setup records the node's driver in its facts, and
orders and placement refuse nodes whose pool would let a container grow past its plan.

`create` makes the container, starts it and waits until its console shows the image's
ready marker, so a container that does not boot fails the `hypervisor_create` step.
Without a `state_dir` the driver talks to the node's LXD; with one, to the private LXD
(`LXD_DIR=<state_dir>/lxd`) that node setup started there.
"""

import shlex

from workers.errors import HypervisorError
from workers.hypervisors.base import (
    GuestSpec,
    HypervisorDriver,
    host_side_routing,
    host_side_unrouting,
    run_script,
    wait_until_ready,
)
from workers.ssh import SSHSession

# LXD storage drivers that hold a container's root disk to its `size=` (`dir` ignores it
# unless the backing filesystem has project quotas, which LXD does not report).
SIZE_ENFORCING_DRIVERS = frozenset({"btrfs", "lvm", "zfs", "ceph"})


def enforces_disk_size(facts: dict) -> bool:
    """Whether a node with these facts (from node setup) holds containers to their size."""
    return facts.get("lxd_storage_driver", "") in SIZE_ENFORCING_DRIVERS


def lxd_dir(state_dir: str) -> str:
    """The LXD_DIR of a node whose hypervisor keeps its state under `state_dir`."""
    return f"{state_dir}/lxd"


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


def instance_options(guest: GuestSpec) -> str:
    """The plan's size: vCPUs, RAM, and the root disk's size (on the profile's pool)."""
    return (
        f"-c limits.cpu={guest.vcpus:d} -c limits.memory={guest.memory_mb:d}MiB "
        f"-d root,size={guest.disk_gb:d}GiB"
    )


class LxdDriver(HypervisorDriver):
    name = "lxd"

    def __init__(self, *, state_dir: str = "", lxc: str = "lxc"):
        prefix = f"env LXD_DIR={shlex.quote(lxd_dir(state_dir))} " if state_dir else ""
        self.lxc = f"{prefix}{lxc}"

    def _lxc(self, session: SSHSession, args: str, *, check: bool = True):
        # stdin from /dev/null: without a terminal, `lxc init` reads a config from stdin
        return session.run(f"{self.lxc} {args} </dev/null", check=check, timeout=300)

    def _status(self, session: SSHSession, guest: GuestSpec) -> str:
        """`RUNNING`, `STOPPED`, ... or "" when there is no such container."""
        out = self._lxc(session, f"list {guest.name} -c ns --format csv", check=False).stdout
        for line in out.splitlines():
            name, _, status = line.partition(",")
            if name == guest.name:
                return status.strip()
        return ""

    def exists(self, session: SSHSession, guest: GuestSpec) -> bool:
        return bool(self._status(session, guest))

    def _ensure_image(self, session: SSHSession, guest: GuestSpec) -> str:
        image = guest.image
        if image is None or not image.lxd_alias:
            raise HypervisorError(f"guest {guest.guest_id} has no LXD image alias")
        alias = shlex.quote(image.lxd_alias)
        if self._lxc(session, f"image info {alias}", check=False).ok:
            return alias
        if not (image.lxd_metadata and image.lxd_rootfs):
            raise HypervisorError(
                f"LXD on this node has no image {image.lxd_alias!r} and the catalog gives no "
                "tarballs to import it from"
            )
        self._lxc(
            session,
            f"image import {shlex.quote(image.lxd_metadata)} {shlex.quote(image.lxd_rootfs)} "
            f"--alias {alias}",
        )
        return alias

    def create(self, session: SSHSession, guest: GuestSpec) -> None:
        """Make the container with its routed NIC, start it and wait until it is ready.

        Raises:
            HypervisorError: no usable image; GuestBootTimeout: not ready in time.
        """
        alias = self._ensure_image(session, guest)
        if not self.exists(session, guest):
            self._lxc(
                session,
                f"init {alias} {guest.name} {instance_options(guest)}",
            )
        self._ensure_nic(session, guest)
        self.start(session, guest)

    def _ensure_nic(self, session: SSHSession, guest: GuestSpec) -> None:
        devices = self._lxc(session, f"config device list {guest.name}").stdout.split()
        if "eth0" not in devices:
            self._lxc(session, f"config device add {guest.name} eth0 nic {nic_options(guest)}")

    def _host_side(self, session: SSHSession, guest: GuestSpec) -> None:
        """The cluster gateway MAC on the vnet, and no stale gateway MAC in the container."""
        pid = ""
        for line in self._lxc(session, f"info {guest.name}").stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "PID":
                pid = value.strip()
        lines = host_side_routing(guest)
        if pid.isdigit():
            lines.append(f"nsenter -t {pid} -n ip neigh flush dev eth0 || true")
        run_script(session, lines)

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        self._ensure_nic(session, guest)
        if self._status(session, guest) == "RUNNING":
            self._host_side(session, guest)

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        """Withdraw the guest's route (the container and its vnet go with `delete`)."""
        run_script(session, host_side_unrouting(guest))

    def start(self, session: SSHSession, guest: GuestSpec) -> None:
        """Start the container unless it runs (waiting for its ready marker), then fix the
        host side of its NIC, which LXD recreates at every start."""
        if self._status(session, guest) != "RUNNING":
            self._lxc(session, f"start {guest.name}")
            wait_until_ready(
                guest,
                lambda: self._lxc(session, f"console {guest.name} --show-log", check=False).stdout,
                running=lambda: self._status(session, guest) == "RUNNING",
            )
        self._host_side(session, guest)

    def stop(self, session: SSHSession, guest: GuestSpec) -> None:
        if self._status(session, guest) == "RUNNING":
            self._lxc(session, f"stop {guest.name} --force")

    def delete(self, session: SSHSession, guest: GuestSpec) -> None:
        """Remove the container; LXD removes its vnet and route with it."""
        if self.exists(session, guest):
            self._lxc(session, f"delete {guest.name} --force")
        vnet = shlex.quote(guest.vnet)
        run_script(session, [f"ip link del {vnet} 2>/dev/null || true"])
