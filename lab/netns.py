"""The IP-fabric lab: hosts in network namespaces on one machine, with real sshd and BIRD 2.

    root namespace (.254) ─┐
    core (.1, BIRD)   ─────┤  bridge br0 in namespace <prefix>-fabric: the flat underlay
    rr1 (.2), rr2 (.3) ────┤  (each host: its own namespace, eth0 veth'd to the bridge,
    node1 (.11), node2 ────┘   its own sshd; nodes route by default via the core)

The core stands in for the border gateway's data plane: its BIRD peers with every RR and
installs the learned VM routes in its kernel table. Nodes and RRs get no BIRD from the lab:
the product installs, configures and starts it over SSH, as on real servers.
Only this machine's namespaces and loopback ever see a packet.
"""

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import netaddr

DEFAULT_DIR = Path(os.environ.get("FABRIC_LAB_DIR", "/tmp/fabric-lab"))  # noqa: S108
VM_NAMESPACE_PREFIX = "fabvm-"
HYPERVISOR_STATE_ROOT = "/var/lib/fabric-lab/hypervisors"
BIRD_RUN_ROOT = "/run/bird"


class LabError(Exception):
    """The lab could not be brought up (the message says why and what to do)."""


@dataclass
class LabHost:
    name: str
    role: str  # core, rr or node
    namespace: str
    address: str
    dir: str

    @property
    def bird_dir(self) -> str:
        """BIRD's files: under /run/bird/ (the product writes BIRD files only below its
        FABRIC_BIRD_PATH_PREFIXES), one directory per lab host."""
        return f"{BIRD_RUN_ROOT}/{self.namespace}"

    @property
    def bird_conf(self) -> str:
        return f"{self.bird_dir}/bird.conf"

    @property
    def bird_socket(self) -> str:
        return f"{self.bird_dir}/bird.ctl"

    @property
    def bird_pidfile(self) -> str:
        return f"{self.bird_dir}/bird.pid"

    @property
    def sshd_pidfile(self) -> str:
        return f"{self.dir}/sshd.pid"

    @property
    def hypervisor_dir(self) -> str:
        """State of the node's private libvirt/LXD daemons (a Node's `state_dir` option):
        lab nodes share the machine's filesystem, so each runs daemons of its own. Outside
        the lab directory, which may be private (0700): unprivileged LXD containers and
        libvirt's QEMU user must reach their files."""
        return f"{HYPERVISOR_STATE_ROOT}/{self.namespace}"

    def run(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell command inside this host's namespace."""
        return sh(f"ip netns exec {self.namespace} sh -c {shlex.quote(command)}", check=check)


@dataclass
class Lab:
    prefix: str
    dir: str
    underlay: str
    public: str
    asn: int
    root_address: str
    hosts: dict[str, LabHost] = field(default_factory=dict)
    junos_port: int = 0
    junos_username: str = "lab"
    junos_password: str = ""
    junos_minute_seconds: float = 60.0

    @property
    def junos_dir(self) -> str:
        return f"{self.dir}/junos"

    @property
    def ssh_key_path(self) -> str:
        return f"{self.dir}/id_ed25519"

    @property
    def ssh_private_key(self) -> str:
        return Path(self.ssh_key_path).read_text()

    @property
    def core(self) -> LabHost:
        return self.hosts["core"]

    def by_role(self, role: str) -> list[LabHost]:
        return [host for host in self.hosts.values() if host.role == role]

    def host_key(self, name: str) -> str:
        """The OpenSSH public host key of a lab host (for strict host-key checking)."""
        return Path(f"{self.hosts[name].dir}/ssh_host_ed25519_key.pub").read_text().strip()

    @property
    def junos_host_key(self) -> str:
        """The Junos simulator's OpenSSH public host key (it made it at its first start)."""
        import asyncssh

        key = asyncssh.read_private_key(f"{self.junos_dir}/ssh_host_ed25519_key")
        return key.export_public_key().decode().strip()

    def save(self) -> None:
        data = asdict(self)
        Path(self.dir, "lab.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, directory: Path | str = DEFAULT_DIR) -> "Lab":
        data = json.loads(Path(directory, "lab.json").read_text())
        hosts = {name: LabHost(**host) for name, host in data.pop("hosts").items()}
        return cls(**data, hosts=hosts)


def sh(command: str, *, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S602 - lab commands are built from validated names
        command, shell=True, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise LabError(f"`{command}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _namespaces() -> list[str]:
    out = sh("ip -json netns list", check=False).stdout.strip()
    return [entry["name"] for entry in json.loads(out or "[]")]


def _check_underlay_is_free(underlay: netaddr.IPNetwork, root_link: str) -> None:
    routes = json.loads(sh("ip -json -4 route show").stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst in ("", "default") or route.get("dev") == root_link:
            continue
        if netaddr.IPNetwork(dst) in underlay or underlay in netaddr.IPNetwork(dst):
            raise LabError(
                f"{underlay} overlaps {dst} (dev {route.get('dev')}) in the root namespace: "
                "lab traffic would leak onto a real network. Choose another --underlay."
            )


def _is_up(lab: Lab) -> bool:
    existing = set(_namespaces())
    if not all(host.namespace in existing for host in lab.hosts.values()):
        return False
    for host in lab.hosts.values():
        if host.role != "core" and not _pid_alive(host.sshd_pidfile):
            return False
    return _pid_alive(lab.core.bird_pidfile) and _pid_alive(f"{lab.junos_dir}/junos-sim.pid")


def _pid_alive(pidfile: str) -> bool:
    try:
        os.kill(int(Path(pidfile).read_text().split()[0]), 0)
    except (OSError, ValueError):
        return False
    return True


def lab_up(
    *,
    directory: Path | str = DEFAULT_DIR,
    prefix: str = "fl",
    nodes: int = 2,
    route_reflectors: int = 2,
    underlay: str = "198.51.100.0/24",
    public: str = "203.0.113.0/24",
    asn: int = 65000,
    junos_minute_seconds: float = 60.0,
) -> Lab:
    """Bring the lab up (idempotent: an intact lab with the same shape is reused).

    The border gateway's management plane is the project's Junos simulator on
    127.0.0.1:`lab.junos_port`; one Junos "minute" lasts `junos_minute_seconds`.
    """
    directory = Path(directory)
    if (directory / "lab.json").exists():
        lab = Lab.load(directory)
        shape = (len(lab.by_role("node")), len(lab.by_role("rr")), lab.prefix)
        if shape == (nodes, route_reflectors, prefix) and _is_up(lab):
            return lab
    lab_down(directory=directory, prefix=prefix)
    net = netaddr.IPNetwork(underlay)
    root_link = f"{prefix}-root"
    _check_underlay_is_free(net, root_link)
    directory.mkdir(parents=True, exist_ok=True)
    lab = Lab(prefix, str(directory), underlay, public, asn, root_address=str(net[254]),
              junos_password=secrets.token_urlsafe(12),
              junos_minute_seconds=junos_minute_seconds)  # fmt: skip
    lab.hosts["core"] = _host(lab, "core", "core", str(net[1]))
    for i in range(1, route_reflectors + 1):
        lab.hosts[f"rr{i}"] = _host(lab, f"rr{i}", "rr", str(net[1 + i]))
    for i in range(1, nodes + 1):
        lab.hosts[f"node{i}"] = _host(lab, f"node{i}", "node", str(net[10 + i]))
    lab.save()
    try:
        _build(lab, net, root_link)
    except BaseException:
        lab_down(directory=directory, prefix=prefix)
        raise
    return lab


def _host(lab: Lab, name: str, role: str, address: str) -> LabHost:
    host_dir = Path(lab.dir, name)
    host_dir.mkdir(parents=True, exist_ok=True)
    host = LabHost(name, role, f"{lab.prefix}-{name}", address, str(host_dir))
    Path(host.bird_dir).mkdir(parents=True, exist_ok=True)
    return host


def _build(lab: Lab, net: netaddr.IPNetwork, root_link: str) -> None:
    fabric = f"{lab.prefix}-fabric"
    sh(f"ip netns add {fabric}")
    sh(f"ip -n {fabric} link add br0 type bridge && ip -n {fabric} link set br0 up")
    sh(f"ip -n {fabric} link set lo up")
    key = Path(lab.ssh_key_path)
    if not key.exists():
        sh(f"ssh-keygen -q -t ed25519 -N '' -C fabric-lab -f {key}")
    Path(lab.dir, "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)
    for host in lab.hosts.values():
        _attach(host, fabric, net.prefixlen)
        _sysctls(host)
        if host.role in ("node", "rr"):
            # as in a real network: RRs too have a default route (so nothing but the
            # nodes' packet filter keeps a guest from reaching them)
            host.run(f"ip route replace default via {lab.core.address}")
        if host.role != "core":
            _start_sshd(lab, host)
    sh(f"ip link add {root_link} type veth peer name v-root netns {fabric}")
    sh(f"ip -n {fabric} link set v-root master br0 up")
    sh(f"ip addr add {lab.root_address}/{net.prefixlen} dev {root_link}")
    sh(f"ip link set {root_link} up")
    _start_core_bird(lab)
    _start_junos_simulator(lab)
    lab.save()
    _wait_for_ssh(lab)


def _attach(host: LabHost, fabric: str, prefixlen: int) -> None:
    sh(f"ip netns add {host.namespace}")
    sh(f"ip -n {fabric} link add v-{host.name} type veth peer name eth0 netns {host.namespace}")
    sh(f"ip -n {fabric} link set v-{host.name} master br0 up")
    sh(f"ip -n {host.namespace} addr add {host.address}/{prefixlen} dev eth0")
    sh(f"ip -n {host.namespace} link set eth0 up && ip -n {host.namespace} link set lo up")


def _sysctls(host: LabHost) -> None:
    # New namespaces copy some of the host's defaults; make the ones that matter explicit.
    forwarding = 1 if host.role == "core" else 0
    host.run(
        f"sysctl -qw net.ipv4.ip_forward={forwarding} net.ipv4.conf.all.rp_filter=0 "
        "net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 "
        "net.ipv4.conf.default.send_redirects=0"
    )


def _start_sshd(lab: Lab, host: LabHost) -> None:
    host_key = Path(host.dir, "ssh_host_ed25519_key")
    if not host_key.exists():
        sh(f"ssh-keygen -q -t ed25519 -N '' -C {host.name} -f {host_key}")
    config = Path(host.dir, "sshd_config")
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {host.address}",
                "Port 22",
                f"HostKey {host_key}",
                f"PidFile {host.sshd_pidfile}",
                f"AuthorizedKeysFile {lab.dir}/authorized_keys",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "MaxStartups 100",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    # nsenter joins only the network namespace: sessions keep the machine's mount namespace,
    # so namespaces they create (the netns driver's VMs) are visible to everyone.
    sshd = f"/usr/sbin/sshd -f {config} -E {host.dir}/sshd.log"
    sh(f"nsenter --net=/run/netns/{host.namespace} {sshd}")


CORE_BIRD_CONF = """\
# Lab core: the border gateway's data plane. Learns VM routes from the RRs.
router id {address};
timeformat protocol iso long ms;
protocol device {{ scan time 10; }}
protocol direct {{ ipv4; interface "eth0"; }}
protocol kernel {{
  ipv4 {{ import none; export where source = RTS_BGP; }};
}}
{sessions}
"""

CORE_SESSION = """\
protocol bgp {protocol} {{
  description "Route reflector {name}";
  local {local} as {asn};
  neighbor {address} as {asn};
  direct;
  ipv4 {{ import all; export none; }};
}}
"""


def core_bird_config(lab: Lab) -> str:
    sessions = "".join(
        CORE_SESSION.format(
            protocol=f"lab_{rr.name}", name=rr.name, local=lab.core.address,
            address=rr.address, asn=lab.asn,
        )
        for rr in lab.by_role("rr")
    )  # fmt: skip
    return CORE_BIRD_CONF.format(address=lab.core.address, sessions=sessions)


def _start_core_bird(lab: Lab) -> None:
    core = lab.core
    Path(core.bird_conf).write_text(core_bird_config(lab))
    sh(f"bird -p -c {core.bird_conf}")
    sh(
        f"ip netns exec {core.namespace} bird -c {core.bird_conf} -s {core.bird_socket} "
        f"-P {core.bird_pidfile}"
    )


def _start_junos_simulator(lab: Lab, timeout: float = 20.0) -> None:
    """The border gateway's CLI: `python -m lab.junos_sim`, reporting the core BIRD's state."""
    Path(lab.junos_dir).mkdir(parents=True, exist_ok=True)
    log_path = Path(lab.junos_dir, "junos-sim.log")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "lab.junos_sim", "--listen", "127.0.0.1", "--port", "0",
                "--username", lab.junos_username, "--state-dir", lab.junos_dir,
                "--minute-seconds", str(lab.junos_minute_seconds),
                "--birdc-socket", lab.core.bird_socket, "--hostname", f"{lab.prefix}-mx",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "JUNOS_SIM_PASSWORD": lab.junos_password},
        )  # fmt: skip
    Path(lab.junos_dir, "junos-sim.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while not (ready := re.search(r"^ready (\d+)$", log_path.read_text(), re.M)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the Junos simulator did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    lab.junos_port = int(ready[1])


def _wait_for_ssh(lab: Lab, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    for host in lab.hosts.values():
        if host.role == "core":
            continue
        while True:
            try:
                with socket.create_connection((host.address, 22), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise LabError(f"sshd on {host.name} ({host.address}) did not answer") from None
                time.sleep(0.05)


def lab_down(*, directory: Path | str = DEFAULT_DIR, prefix: str = "fl") -> None:
    """Remove every namespace, link and process of the lab (also after a partial failure)."""
    ours = [ns for ns in _namespaces() if ns.startswith(f"{prefix}-")]
    for state_dir in Path(HYPERVISOR_STATE_ROOT).glob(f"{prefix}-*"):
        stop_hypervisors(state_dir)
    for namespace in ours:
        for pid in sh(f"ip netns pids {namespace}", check=False).stdout.split():
            _kill(int(pid))
    bird_dirs = list(Path(BIRD_RUN_ROOT).glob(f"{prefix}-*"))
    pidfiles = list(Path(directory).glob("*/*.pid")) if Path(directory).exists() else []
    for pidfile in pidfiles + [p for d in bird_dirs for p in d.glob("*.pid")]:
        with contextlib.suppress(ValueError, OSError):
            _kill(int(pidfile.read_text().split()[0]))
        pidfile.unlink(missing_ok=True)
    for namespace in ours:
        sh(f"ip netns del {namespace}", check=False)
    sh(f"ip link del {prefix}-root", check=False)
    _remove_orphaned_vm_namespaces()
    for stale in Path(directory).glob("*/*.ctl") if Path(directory).exists() else []:
        stale.unlink(missing_ok=True)
    for bird_dir in bird_dirs:
        shutil.rmtree(bird_dir, ignore_errors=True)


def lab_clear_guests(lab: Lab) -> None:
    """Remove the netns "VMs" of the lab and every vnet (with its routes) on its nodes: what
    guests leave behind when only the database forgets them (a test rolled back)."""
    for namespace in _namespaces():
        if namespace.startswith(f"{lab.prefix}-vm-"):
            sh(f"ip netns del {namespace}", check=False)
    for node in lab.by_role("node"):
        links = sh(f"ip -n {node.namespace} -o link show", check=False).stdout.splitlines()
        for name in (line.split(":")[1].strip().split("@")[0] for line in links):
            if name.startswith("vnet"):
                sh(f"ip -n {node.namespace} link del {shlex.quote(name)}", check=False)


def _remove_orphaned_vm_namespaces() -> None:
    """Remove "VM" namespaces (netns driver) left without a link to any node.

    A VM's eth0 is a veth whose peer lived in its node's namespace: deleting the node took
    both ends away, leaving only `lo`. VMs of another lab on the machine keep their eth0.
    """
    time.sleep(0.1)  # the kernel removes the veths of deleted namespaces asynchronously
    for namespace in _namespaces():
        if not namespace.startswith(VM_NAMESPACE_PREFIX):
            continue
        links = sh(f"ip -n {namespace} -o link show", check=False).stdout.splitlines()
        if all(": lo:" in line for line in links):
            sh(f"ip netns del {namespace}", check=False)


def free_underlay(candidates: list[str]) -> str:
    """The first candidate prefix that is not a route in the root namespace yet."""
    for candidate in candidates:
        try:
            _check_underlay_is_free(netaddr.IPNetwork(candidate), root_link="")
        except LabError:
            continue
        return candidate
    raise LabError(f"every candidate underlay is in use: {candidates}")


def stop_hypervisors(state_dir: Path | str) -> None:
    """Stop a lab node's private LXD (deleting its containers) and libvirt (destroying its
    guests), then remove their state. Containers live in network namespaces of their own,
    so killing the node namespace's processes would not reach them."""
    state_dir = Path(state_dir)
    lxd_dir = state_dir / "lxd"
    if (state_dir / "lxd.pid").exists():
        lxc = f"env LXD_DIR={shlex.quote(str(lxd_dir))} lxc"
        if sh(f"{lxc} info >/dev/null 2>&1", check=False).returncode == 0:
            names = sh(f"{lxc} list -c n --format csv", check=False).stdout.split()
            for name in names:
                sh(f"{lxc} delete --force {shlex.quote(name)}", check=False)
        # Whatever LXD could not delete: the containers' monitors name the LXD_DIR.
        for pid in _pids_matching(f"[lxc monitor] {lxd_dir}/"):
            for child in _children(pid):
                _kill(child)
            _kill(pid)
    libvirt = state_dir / "libvirt"
    if (libvirt / "libvirtd.pid").exists():
        uri = f"qemu+unix:///system?socket={libvirt}/run/libvirt-sock"
        virsh = f"virsh -q -c {shlex.quote(uri)}"
        for name in sh(f"{virsh} list --name", check=False).stdout.split():
            sh(f"{virsh} destroy {shlex.quote(name)}", check=False)
    for pidfile in [state_dir / "lxd.pid", *libvirt.glob("*.pid")]:
        with contextlib.suppress(ValueError, OSError):
            _kill(int(pidfile.read_text().split()[0]))
    shutil.rmtree(state_dir, ignore_errors=True)


def _pids_matching(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    pids.append(int(entry.name))
    return pids


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    return children


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
