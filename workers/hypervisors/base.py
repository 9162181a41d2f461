"""What every hypervisor driver does, and the plain data it is given."""

import ipaddress
import re
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from workers import firewall
from workers.errors import GuestBootTimeout
from workers.polling import poll_until
from workers.ssh import CommandResult, SSHSession


@dataclass(frozen=True)
class GuestSpec:
    """A VM or container as a driver sees it. `vnet` is the node-side interface."""

    guest_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    ipv4: str
    vnet: str
    gateway_ipv4: str
    gateway_mac: str
    guest_mac: str
    ipv6: str = ""
    gateway_ipv6: str = ""
    image: "GuestImage | None" = None

    @property
    def name(self) -> str:
        """The guest's name on the hypervisor."""
        return f"fabric-vm-{self.guest_id}"


@dataclass(frozen=True)
class GuestImage:
    """What a guest boots: a kernel and initrd (direct boot), a disk, or an LXD image alias.

    Paths are on the node. `lxd_metadata` + `lxd_rootfs` are tarballs the LXD driver imports
    under `lxd_alias` when the node does not have that image yet. The guest counts as booted
    when its console shows `ready_marker` (when empty: as soon as it runs); it has
    `boot_timeout` seconds for that.
    """

    kernel: str = ""
    initrd: str = ""
    disk: str = ""
    lxd_alias: str = ""
    lxd_metadata: str = ""
    lxd_rootfs: str = ""
    ready_marker: str = ""
    boot_timeout: float = 120.0


class HypervisorDriver(ABC):
    """Create, start, stop and delete guests on a node over its SSH session; idempotent.

    `create_if_missing` and `attach_and_start` are what the `hypervisor_create` and
    `network_attach` steps call; their defaults combine the basic operations, and a driver
    that can do the same in one remote script (one SSH round trip) overrides them.
    """

    name: str

    @abstractmethod
    def create(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def start(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def stop(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def delete(self, session: SSHSession, guest: GuestSpec) -> None: ...
    @abstractmethod
    def exists(self, session: SSHSession, guest: GuestSpec) -> bool: ...

    def create_if_missing(self, session: SSHSession, guest: GuestSpec) -> bool:
        """Create the guest unless it exists.

        Returns:
            True when it was created, False when it was already there.
        """
        if self.exists(session, guest):
            return False
        self.create(session, guest)
        return True

    def attach_and_start(self, session: SSHSession, guest: GuestSpec) -> None:
        """Give the guest its vnet, gateway and /32 route, and have it running."""
        self.attach_network(session, guest)
        self.start(session, guest)

    def network_probes(self, guest: GuestSpec) -> dict[str, str]:
        """Shell commands whose output `network_problems` reads (one round trip)."""
        return host_side_probes(guest)

    def network_problems(self, session: SSHSession, guest: GuestSpec) -> list[str]:
        """What a running guest's network lacks of what `attach_network` sets up, in words
        (empty: complete). A driver that sees the guest's side too adds its checks."""
        return host_side_problems(guest, probe(session, self.network_probes(guest)))


def host_side_routing(guest: GuestSpec) -> list[str]:
    """Shell lines that make `guest.vnet` the guest's gateway and route its /32 there.

    The same for every driver: the guest's packet-filter elements first (the node's filter
    table must exist; without them the vnet carries nothing), then the vnet carries the
    cluster gateway IP and MAC, answers ARP for the guest (proxy_arp), and the node routes
    the guest's addresses to it.
    """
    vnet = shlex.quote(guest.vnet)
    lines = [
        *firewall.attach_lines(filter_guest(guest)),
        f"ip link set {vnet} address {guest.gateway_mac}",
        f"ip addr replace {guest.gateway_ipv4}/32 dev {vnet}",
        f"sysctl -qw net.ipv4.conf.{guest.vnet}.proxy_arp=1 net.ipv4.conf.{guest.vnet}.rp_filter=0",
        f"ip link set {vnet} up",
        f"ip route replace {guest.ipv4}/32 dev {vnet}",
    ]
    if guest.ipv6:
        if guest.gateway_ipv6:
            lines.append(f"ip -6 addr replace {guest.gateway_ipv6}/64 dev {vnet} nodad")
        lines.append(f"ip -6 route replace {guest.ipv6}/128 dev {vnet}")
    return lines


def host_side_unrouting(guest: GuestSpec) -> list[str]:
    """Shell lines withdrawing the guest's routes and its packet-filter elements; each is
    a no-op when already gone. The vnet itself goes with the driver's `delete`."""
    vnet = shlex.quote(guest.vnet)
    lines = [f"ip route del {guest.ipv4}/32 dev {vnet} 2>/dev/null || true"]
    if guest.ipv6:
        lines.append(f"ip -6 route del {guest.ipv6}/128 dev {vnet} 2>/dev/null || true")
    return lines + firewall.detach_lines(filter_guest(guest))


def host_side_probes(guest: GuestSpec) -> dict[str, str]:
    """Commands showing the vnet's state, for `host_side_problems`."""
    vnet = shlex.quote(guest.vnet)
    probes = {
        "link": f"ip -o link show dev {vnet}",
        "addr": f"ip -o addr show dev {vnet}",
        "proxy_arp": f"cat /proc/sys/net/ipv4/conf/{vnet}/proxy_arp",
        "route4": f"ip -4 route show {guest.ipv4}/32 dev {vnet}",
    }
    if guest.ipv6:
        probes["route6"] = f"ip -6 route show {guest.ipv6}/128 dev {vnet}"
    return probes


def host_side_problems(guest: GuestSpec, seen: dict[str, str]) -> list[str]:
    """What `host_side_routing` sets and the vnet lacks, from `host_side_probes`' output."""
    vnet = guest.vnet
    if not seen.get("link"):
        return [f"{vnet} was missing"]
    problems = []
    flags = re.search(r"<([^>]*)>", seen["link"])
    if not flags or "UP" not in flags.group(1).split(","):
        problems.append(f"{vnet} was down")
    if f"link/ether {guest.gateway_mac.lower()} " not in seen["link"].lower() + " ":
        problems.append(f"{vnet} lacked the gateway MAC {guest.gateway_mac}")
    addresses = seen.get("addr", "").split()
    if f"{guest.gateway_ipv4}/32" not in addresses:
        problems.append(f"{vnet} lacked the gateway address {guest.gateway_ipv4}")
    gateway6 = str(ipaddress.ip_address(guest.gateway_ipv6)) if guest.gateway_ipv6 else ""
    if guest.ipv6 and gateway6 and f"{gateway6}/64" not in addresses:
        problems.append(f"{vnet} lacked the gateway address {guest.gateway_ipv6}")
    if seen.get("proxy_arp", "").strip() != "1":
        problems.append(f"{vnet} lacked proxy ARP")
    if not seen.get("route4"):
        problems.append(f"route {guest.ipv4}/32 dev {vnet} was missing")
    if guest.ipv6 and not seen.get("route6"):
        problems.append(f"route {guest.ipv6}/128 dev {vnet} was missing")
    return problems


def probe(session: SSHSession, probes: dict[str, str]) -> dict[str, str]:
    """Run each command (errors ignored) in one round trip; its output on one line, by key."""
    script = "\n".join(
        f"printf '%s=%s\\n' {key} \"$({command} 2>/dev/null | tr '\\n' ' ')\""
        for key, command in probes.items()
    )
    out = session.run("sh -c " + shlex.quote(script), check=False).stdout
    return {
        key: value.strip()
        for key, _, value in (line.partition("=") for line in out.splitlines())
        if key in probes
    }


def filter_guest(guest: GuestSpec) -> firewall.GuestAddresses:
    return firewall.GuestAddresses(vnet=guest.vnet, ipv4=guest.ipv4, ipv6=guest.ipv6)


def run_script(session: SSHSession, lines: list[str]) -> CommandResult:
    """Run shell lines as one `set -e` script over the session (one round trip)."""
    return session.run("sh -ec " + shlex.quote("\n".join(lines)))


def wait_until_ready(
    guest: GuestSpec,
    console: Callable[[], str],
    *,
    running: Callable[[], bool],
    interval: float = 0.25,
) -> float:
    """Poll the guest's console until it shows the image's ready marker; seconds waited.

    Args:
        console: returns the console output of the current boot.
        running: False once the guest has stopped (it crashed or powered off).

    Raises:
        GuestBootTimeout: not ready within the image's `boot_timeout` (or the guest stopped);
            the message ends with the console's last lines.
    """
    image = guest.image or GuestImage()
    started = time.monotonic()

    def look() -> tuple[str, bool]:
        return (console() if image.ready_marker else ""), running()

    def ready_or_stopped(seen: tuple[str, bool]) -> bool:
        output, alive = seen
        return not alive or not image.ready_marker or image.ready_marker in output

    def boot_failed(seen: tuple[str, bool]) -> GuestBootTimeout:
        output, alive = seen
        tail = "\n".join(output.strip().splitlines()[-5:]) or "(no console output)"
        why = "stopped" if not alive else f"not ready after {image.boot_timeout:g}s"
        return GuestBootTimeout(
            f"guest {guest.name} {why} (waiting for {image.ready_marker!r} on its "
            f"console); console ends with:\n{tail}"
        )

    seen = poll_until(
        look,
        done=ready_or_stopped,
        timeout=image.boot_timeout,
        interval=interval,
        error=boot_failed,
    )
    if not seen[1]:
        raise boot_failed(seen)
    return time.monotonic() - started
