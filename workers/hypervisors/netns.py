"""The lab's hypervisor: a "VM" is a network namespace behind a veth pair.

It proves the routing (vnet with the cluster gateway IP/MAC, /32 dev vnet, the guest's
default route via the gateway onlink) with real kernels, without a real guest OS.
`create_if_missing` and `attach_and_start` (the `hypervisor_create` and `network_attach`
steps) are one idempotent remote script each: one SSH round trip per step.
"""

import re
import shlex

from workers.hypervisors.base import (
    GuestSpec,
    HypervisorDriver,
    host_side_probes,
    host_side_problems,
    host_side_routing,
    host_side_unrouting,
    probe,
    run_script,
)
from workers.ssh import SSHSession

NAMESPACE_PREFIX = "fabvm-"


class NetnsDriver(HypervisorDriver):
    """`namespace_prefix` keeps the "VMs" of labs sharing one kernel apart."""

    name = "netns"

    def __init__(self, namespace_prefix: str = NAMESPACE_PREFIX):
        self.namespace_prefix = namespace_prefix

    def namespace(self, guest: GuestSpec) -> str:
        return f"{self.namespace_prefix}{guest.guest_id}"

    def exists(self, session: SSHSession, guest: GuestSpec) -> bool:
        return session.run(f"test -e /run/netns/{self.namespace(guest)}", check=False).ok

    def create(self, session: SSHSession, guest: GuestSpec) -> None:
        self.create_if_missing(session, guest)

    def create_if_missing(self, session: SSHSession, guest: GuestSpec) -> bool:
        """The namespace (with `lo` up) unless it exists, in one round trip; True if created."""
        ns = self.namespace(guest)
        result = run_script(
            session,
            [
                f"if test -e /run/netns/{ns}; then echo exists; "
                f"else ip netns add {ns}; echo created; fi",
                f"ip -n {ns} link set lo up",
            ],
        )
        return "created" in result.stdout.split()

    def attach_and_start(self, session: SSHSession, guest: GuestSpec) -> None:
        """`attach_network` alone: its script ends with the guest's eth0 up, which is all
        `start` does; one round trip."""
        self.attach_network(session, guest)

    def attach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        ns, vnet = self.namespace(guest), shlex.quote(guest.vnet)
        lines = [
            f"ip link show {vnet} >/dev/null 2>&1 || "
            f"ip link add {vnet} type veth peer name eth0 netns {ns}",
            *host_side_routing(guest),
            f"ip -n {ns} link set eth0 address {guest.guest_mac}",
            f"ip -n {ns} addr replace {guest.ipv4}/32 dev eth0",
            f"ip -n {ns} link set eth0 up",
            f"ip -n {ns} route replace default via {guest.gateway_ipv4} dev eth0 onlink",
        ]
        if guest.ipv6:
            lines.append(f"ip -n {ns} -6 addr replace {guest.ipv6}/128 dev eth0 nodad")
            if guest.gateway_ipv6:
                lines.append(
                    f"ip -n {ns} -6 route replace default via {guest.gateway_ipv6} dev eth0"
                )
        run_script(session, lines)

    def network_probes(self, guest: GuestSpec) -> dict[str, str]:
        ns = self.namespace(guest)
        return {
            **host_side_probes(guest),
            "guest_link": f"ip -n {ns} -o link show dev eth0",
            "guest_addr": f"ip -n {ns} -o addr show dev eth0",
            "guest_default": f"ip -n {ns} -4 route show default",
        }

    def network_problems(self, session: SSHSession, guest: GuestSpec) -> list[str]:
        """The vnet's problems, and the guest side's: eth0 up with its address and default
        route (a namespace "VM" has no OS of its own to restore them)."""
        seen = probe(session, self.network_probes(guest))
        problems = host_side_problems(guest, seen)
        flags = re.search(r"<([^>]*)>", seen.get("guest_link", ""))
        if not flags or "UP" not in flags.group(1).split(","):
            problems.append("the guest's eth0 was down")
        if f"{guest.ipv4}/32" not in seen.get("guest_addr", "").split():
            problems.append(f"the guest lacked its address {guest.ipv4}")
        if "default via" not in seen.get("guest_default", ""):
            problems.append("the guest had no default route")
        return problems

    def detach_network(self, session: SSHSession, guest: GuestSpec) -> None:
        vnet = shlex.quote(guest.vnet)
        run_script(
            session, [*host_side_unrouting(guest), f"ip link del {vnet} 2>/dev/null || true"]
        )

    def start(self, session: SSHSession, guest: GuestSpec) -> None:
        """eth0 up, with the address and default route it lost when it went down."""
        self.attach_network(session, guest)

    def stop(self, session: SSHSession, guest: GuestSpec) -> None:
        run_script(session, [f"ip -n {self.namespace(guest)} link set eth0 down"])

    def delete(self, session: SSHSession, guest: GuestSpec) -> None:
        ns = self.namespace(guest)
        run_script(session, [f"test ! -e /run/netns/{ns} || ip netns del {ns}"])
