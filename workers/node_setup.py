"""Prepare a Linux host for the fabric: tools, BIRD 2, the sysctls routed vnets need."""

import shlex

from workers.errors import DeviceError
from workers.ssh import SSHSession

NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    # Replies leave by the vnet, requests may arrive elsewhere: strict reverse-path
    # filtering would drop them. New vnets inherit the "default" values.
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.conf.default.proxy_arp": "1",
}
SYSCTL_FILE = "/etc/sysctl.d/90-fabric-portal.conf"


class NodeSetupFailed(DeviceError):
    """The host lacks something the fabric needs and it could not be installed."""


def gather_facts(session: SSHSession) -> dict[str, str]:
    """OS, kernel and tool versions of the host (empty string when absent)."""
    script = (
        '. /etc/os-release 2>/dev/null; echo "os=${PRETTY_NAME:-unknown}"; '
        'echo "kernel=$(uname -r)"; '
        'echo "bird=$(bird --version 2>&1 | head -1)"; '
        'echo "ip=$(command -v ip)"; echo "birdc=$(command -v birdc)"; '
        'echo "apt=$(command -v apt-get)"'
    )
    out = session.run(f"sh -c {shlex.quote(script)}").stdout
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not facts.get("bird", "").startswith("BIRD version"):
        facts["bird"] = ""
    return facts


def ensure_bird(session: SSHSession, facts: dict[str, str]) -> str:
    """Install Debian's bird2 when BIRD is absent; returns the BIRD version line."""
    if facts.get("bird"):
        return facts["bird"]
    if not facts.get("apt"):
        raise NodeSetupFailed("BIRD 2 is not installed and there is no apt-get to install it")
    session.run(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q bird2", timeout=600, check=True
    )
    version = session.run("bird --version 2>&1 | head -1").stdout.strip()
    if not version.startswith("BIRD version 2"):
        raise NodeSetupFailed(f"bird2 was installed but `bird --version` says {version!r}")
    return version


def apply_sysctls(session: SSHSession, *, persist: bool) -> None:
    """Set the routing sysctls now and, when `persist`, in /etc/sysctl.d for reboots."""
    settings = " ".join(f"{key}={value}" for key, value in NODE_SYSCTLS.items())
    session.run(f"sysctl -qw {settings}")
    if persist:
        content = "# Managed by Fabric Portal\n" + "".join(
            f"{key} = {value}\n" for key, value in NODE_SYSCTLS.items()
        )
        session.write_file_atomic(SYSCTL_FILE, content)


def read_sysctls(session: SSHSession) -> dict[str, str]:
    out = session.run("sysctl " + " ".join(NODE_SYSCTLS)).stdout
    return {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in out.splitlines())}
