"""Prepare a Linux host for the fabric: tools, BIRD 2, the sysctls routed vnets need."""

import ipaddress
import json
import shlex

from workers.errors import DeviceError
from workers.hypervisors.libvirt import LibvirtLayout
from workers.hypervisors.lxd import lxd_dir
from workers.polling import poll_until
from workers.ssh import CommandResult, SSHSession

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
        'echo "apt=$(command -v apt-get)"; echo "nft=$(command -v nft)"'
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


def ensure_nftables(session: SSHSession, facts: dict[str, str]) -> str:
    """Install Debian's nftables when `nft` is absent; returns nft's version line."""
    if not facts.get("nft"):
        if not facts.get("apt"):
            raise NodeSetupFailed("nft is not installed and there is no apt-get to install it")
        session.run(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables", timeout=600, check=True
        )
    version = session.run("nft --version 2>&1 | head -1", check=False).stdout.strip()
    if not version.startswith("nftables"):
        raise NodeSetupFailed(f"nftables was installed but `nft --version` says {version!r}")
    return version


def connected_prefixes(session: SSHSession, *, guest_pattern: str = "vnet") -> list[str]:
    """The global-scope prefixes on the node's own interfaces (underlay, management...),
    not on its guests' vnets (names starting with `guest_pattern`)."""
    out = session.run("ip -j addr show").stdout
    prefixes = []
    for link in json.loads(out or "[]"):
        if link.get("ifname", "").startswith(guest_pattern):
            continue
        for addr in link.get("addr_info", []):
            if addr.get("scope") != "global":
                continue
            net = ipaddress.ip_network(f"{addr['local']}/{addr['prefixlen']}", strict=False)
            if str(net) not in prefixes:
                prefixes.append(str(net))
    return prefixes


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


def repair_sysctls(session: SSHSession, *, persist: bool) -> list[str]:
    """Set again the routing sysctls that differ from NODE_SYSCTLS (a reboot without the
    persisted file, a hand edit, a new lab); what was wrong, in words."""
    current = read_sysctls(session)
    wrong = {key: value for key, value in NODE_SYSCTLS.items() if current.get(key) != value}
    if wrong:
        apply_sysctls(session, persist=persist)
    return [
        f"{key} was {current.get(key, 'unset')}: set to {value}" for key, value in wrong.items()
    ]


# --- hypervisors ------------------------------------------------------------------------------


class HypervisorSetupFailed(NodeSetupFailed):
    """The node's hypervisor is missing and could not be installed, or would not start."""


HYPERVISOR_PACKAGES = {
    "libvirt": [
        "libvirt-daemon-system", "libvirt-clients", "libvirt-daemon-driver-qemu",
        "qemu-system-x86", "qemu-utils",  # qemu-img: a disk overlay per VM
    ],
    "lxd": ["lxd", "lxd-client", "btrfs-progs"],
}  # fmt: skip
HYPERVISOR_COMMANDS = {
    "libvirt": ["libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "qemu-img"],
    "lxd": ["lxd", "lxc", "mkfs.btrfs"],
}
LXD_POOL_SIZE_GB = 20  # the btrfs loop file when the node's disk size is not given
DAEMON_START_TIMEOUT = 90  # libvirtd's first start probes QEMU's capabilities (~10 s under TCG)

# Hosts that share one filesystem (lab nodes) each run private daemons: libvirtd in a
# mount namespace of its own whose /run/libvirt, /var/lib/libvirt... are bind mounts of
# directories under STATE; the socket is then STATE/libvirt/run/libvirt-sock.
LIBVIRT_PRIVATE_START = """\
S={state}
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt \\
  "$S/run" "$S/lib" "$S/cache" "$S/log"
if [ ! -d "$S/etc" ]; then
  cp -a /etc/libvirt "$S/etc.new"
  rm -f "$S"/etc.new/qemu/networks/autostart/*  # IP fabric: no libvirt bridge
  mv "$S/etc.new" "$S/etc"
fi
rm -f "$S/run/libvirt-sock"
unshare -m --propagation private sh -ec '
  mount --bind "$0/run" /run/libvirt
  mount --bind "$0/lib" /var/lib/libvirt
  mount --bind "$0/cache" /var/cache/libvirt
  mount --bind "$0/log" /var/log/libvirt
  mount --bind "$0/etc" /etc/libvirt
  export LIBVIRT_LOG_OUTPUTS="3:file:$0/libvirtd.log"
  virtlogd -d -p "$0/virtlogd.pid"
  libvirtd -d -p "$0/libvirtd.pid"
' "$S"
"""

# LXD with LXD_DIR=STATE/lxd, in a mount namespace with a fresh sysfs (this network
# namespace's interfaces) and the cgroup hierarchies mounted again on a fresh tmpfs.
LXD_PRIVATE_START = """\
S={state}
mkdir -p "$S/lxd"
cgroups=$(awk '$2 ~ "^/sys/fs/cgroup" {{print $3 " " $2 " " $4}}' /proc/self/mounts)
unshare -m --propagation private sh -ec '
  umount -l /sys
  mount -t sysfs sysfs /sys
  echo "$1" | while read -r type dir options; do
    [ -n "$type" ] || continue
    if [ "$dir" = /sys/fs/cgroup ] && [ "$type" = tmpfs ]; then
      mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup; continue
    fi
    mkdir -p "$dir"
    mount -t "$type" -o "$options" "$type" "$dir"
  done
  export LXD_DIR="$0/lxd"
  nohup setsid lxd --group root --logfile "$0/lxd.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$0/lxd.pid"
' "$S" "$cgroups"
"""

# A btrfs pool holds each container to its root disk's `size=` (qgroups); LXD makes it on a
# loop file of `size` in its own directory (LXD_DIR/disks/default.img, sparse).
LXD_PRESEED = """\
config:
  images.auto_update_interval: "0"
storage_pools:
- name: default
  driver: btrfs
  config:
    size: {size_gb}GiB
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
"""


def _has_commands(session: SSHSession, commands: list[str]) -> bool:
    """Whether each command is an executable file on the node's PATH."""
    script = (
        f"for c in {' '.join(commands)}; do "
        'p=$(command -v "$c") && [ -f "$p" ] && [ -x "$p" ] || exit 1; done'
    )
    return session.run(f"sh -c {shlex.quote(script)}", check=False).ok


def _start(session: SSHSession, command: str, *, what: str) -> None:
    result = session.run(command, timeout=DAEMON_START_TIMEOUT, check=False)
    if not result.ok:
        raise HypervisorSetupFailed(
            f"starting {what} failed (exit {result.exit_status}): "
            f"{(result.stderr or result.stdout).strip()[-500:]}"
        )


def _install(session: SSHSession, hypervisor: str, facts: dict[str, str]) -> None:
    packages = HYPERVISOR_PACKAGES[hypervisor]
    if not facts.get("apt"):
        raise HypervisorSetupFailed(
            f"{hypervisor} is not installed ({', '.join(HYPERVISOR_COMMANDS[hypervisor])} "
            f"missing) and there is no apt-get to install {' '.join(packages)}"
        )
    result = session.run(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
        + " ".join(packages),
        timeout=900,
        check=False,
    )
    if not result.ok or not _has_commands(session, HYPERVISOR_COMMANDS[hypervisor]):
        raise HypervisorSetupFailed(
            f"installing {' '.join(packages)} failed (exit {result.exit_status}): "
            f"{(result.stderr or result.stdout).strip()[-800:]}"
        )


def _wait(session: SSHSession, probe: str, *, what: str, log: str) -> str:
    """Poll `probe` until it succeeds; its output. Raises HypervisorSetupFailed with `log`."""

    def no_answer(result: CommandResult) -> HypervisorSetupFailed:
        tail = session.run(f"tail -n 5 {log} 2>/dev/null", check=False).stdout.strip()
        return HypervisorSetupFailed(
            f"{what} did not answer within {DAEMON_START_TIMEOUT}s: "
            f"{(result.stderr or result.stdout).strip()[-300:]}\n{tail}"
        )

    result = poll_until(
        lambda: session.run(probe, check=False, timeout=DAEMON_START_TIMEOUT),
        done=lambda result: result.ok,
        timeout=DAEMON_START_TIMEOUT,
        interval=0.5,
        error=no_answer,
    )
    return result.stdout


def _systemd(session: SSHSession) -> bool:
    return session.run("test -d /run/systemd/system", check=False).ok


def ensure_libvirt(session: SSHSession, *, state_dir: str = "") -> dict[str, str]:
    """libvirtd (and virtlogd) running for this node; returns version facts."""
    layout = LibvirtLayout(state_dir=state_dir)
    probe = f"virsh -q -c {shlex.quote(layout.uri)} version"
    # What Debian's udev rule does (hosts without udev leave /dev/kvm root-only): QEMU runs
    # as libvirt-qemu, group kvm. Otherwise libvirt finds KVM "not available now" on every
    # domain definition and probes QEMU's capabilities again (~40 s each time).
    session.run(
        "if [ -c /dev/kvm ] && getent group kvm >/dev/null && "
        '[ "$(stat -c %G /dev/kvm)" != kvm ]; then chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; fi'
    )
    if not session.run(probe, check=False).ok:
        if state_dir:
            script = LIBVIRT_PRIVATE_START.format(state=shlex.quote(layout.private_dir))
            _start(session, f"sh -ec {shlex.quote(script)}", what="libvirtd")
        elif _systemd(session):
            _start(session, "systemctl enable --now virtlogd.socket libvirtd", what="libvirtd")
        else:
            _start(session, "mkdir -p /run/libvirt && virtlogd -d && libvirtd -d", what="libvirtd")
    log = f"{layout.private_dir}/libvirtd.log" if state_dir else "/var/log/libvirt/libvirtd.log"
    out = _wait(session, probe, what="libvirtd", log=log)
    versions = dict(
        line.split(":", 1) for line in out.splitlines() if ":" in line
    )  # "Using library: libvirt 9.0.0", "Running hypervisor: QEMU 7.2.22"
    return {
        "libvirt": versions.get("Using library", "").strip(),
        "hypervisor": versions.get("Running hypervisor", "").strip(),
        "kvm": "yes" if session.run("test -c /dev/kvm", check=False).ok else "no",
    }


def ensure_lxd(session: SSHSession, *, state_dir: str = "", disk_gb: int = 0) -> dict[str, str]:
    """LXD running and initialised; returns version and storage facts.

    An LXD that is not initialised yet gets a btrfs storage pool `default` of `disk_gb` GiB
    (on a loop file LXD makes) and no bridge. An LXD initialised before is left as it is:
    the facts say which driver its containers' pool has (`lxd_storage_driver`), and orders
    for containers refuse a node whose driver does not enforce disk sizes.

    Raises:
        HypervisorSetupFailed: LXD won't start, or the btrfs pool could not be made.
    """
    env = f"env LXD_DIR={shlex.quote(lxd_dir(state_dir))} " if state_dir else ""
    if not session.run(f"{env}lxc info >/dev/null 2>&1", check=False).ok:
        if state_dir:
            script = LXD_PRIVATE_START.format(state=shlex.quote(state_dir))
            _start(session, f"sh -ec {shlex.quote(script)}", what="LXD")
        elif _systemd(session):
            _start(session, "systemctl enable --now lxd.socket lxd", what="LXD")
        else:
            _start(session, "nohup setsid lxd --group root </dev/null >/var/log/lxd.log 2>&1 &",
                   what="LXD")  # fmt: skip
    log = f"{state_dir}/lxd.log" if state_dir else "/var/log/lxd.log"
    _wait(session, f"{env}lxd waitready --timeout 5", what="LXD", log=log)
    if not session.run(f"{env}lxc storage show default >/dev/null 2>&1", check=False).ok:
        preseed = LXD_PRESEED.format(size_gb=int(disk_gb) or LXD_POOL_SIZE_GB)
        result = session.run(f"{env}lxd init --preseed", stdin=preseed, check=False)
        if not result.ok:
            raise HypervisorSetupFailed(
                "lxd init --preseed (a btrfs storage pool, which holds containers to their "
                f"disk size) failed: {(result.stderr or result.stdout).strip()[-500:]}"
            )
    out = session.run(f"{env}lxc version", check=False).stdout  # Client/Server version: X
    versions = {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())
    }
    return {
        "lxd": versions.get("Server version", ""),
        "lxc": versions.get("Client version", ""),
        **lxd_storage_facts(session, env=env),
    }


def lxd_storage_facts(session: SSHSession, *, env: str = "") -> dict[str, str]:
    """The pool of the default profile's root disk (where containers live) and its driver."""
    pool = session.run(
        f"{env}lxc profile device get default root pool </dev/null", check=False
    ).stdout.strip()
    driver = ""
    listing = session.run(f"{env}lxc storage list --format csv </dev/null", check=False).stdout
    for line in listing.splitlines():
        name, _, rest = line.partition(",")
        if name == pool:
            driver = rest.partition(",")[0]
    return {"lxd_storage_pool": pool, "lxd_storage_driver": driver}


def ensure_hypervisor(
    session: SSHSession,
    *,
    hypervisor: str,
    options: dict | None = None,
    facts: dict,
    disk_gb: int = 0,
) -> dict[str, str]:
    """Install (when absent) and start what the node's hypervisor needs; its version facts.

    Args:
        hypervisor: a Node.hypervisor value (`libvirt`, `lxd`, `netns`).
        options: the node's hypervisor options; `state_dir` runs private daemons there.
        facts: what `gather_facts` found (whether apt-get exists).
        disk_gb: the node's disk for guests (the size of a storage pool LXD makes).

    Raises:
        HypervisorSetupFailed: not installed and not installable, or the daemon won't start.
    """
    options = options or {}
    if hypervisor == "netns":
        return {"hypervisor": "network namespaces (lab)"}
    if hypervisor not in HYPERVISOR_PACKAGES:
        raise HypervisorSetupFailed(f"unknown hypervisor {hypervisor!r}")
    if not _has_commands(session, HYPERVISOR_COMMANDS[hypervisor]):
        _install(session, hypervisor, facts)
    state_dir = options.get("state_dir", "")
    if hypervisor == "libvirt":
        return ensure_libvirt(session, state_dir=state_dir)
    return ensure_lxd(session, state_dir=state_dir, disk_gb=disk_gb)
