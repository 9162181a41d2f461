"""Boot to ping: from the hypervisor's start command to the guest's first echo reply.

On a lab of its own (prefix `bp`): node setup starts a private libvirtd on node1 and LXD
on node2 over SSH, as `node_add` does; one guest of each kind is created with the
project's drivers and lab images, then stopped and started ROUNDS times. Each round times
`virsh start` / `lxc start` (sent over the node's SSH session) until the guest answers a
ping from its node through its vnet (every 20 ms). No database, no worker.

    .venv/bin/python -m bench.boot_to_ping [ROUNDS]
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from lab import images as lab_images
from lab.netns import free_underlay, lab_down, lab_up
from workers import node_setup
from workers.hypervisors import GuestImage, GuestSpec
from workers.hypervisors.libvirt import LibvirtDriver
from workers.hypervisors.lxd import LxdDriver
from workers.ssh import HostKeyPolicy, SSHSession, SSHTarget

PREFIX = "bp"


def answers(namespace: str, address: str) -> bool:
    ping = ["ip", "netns", "exec", namespace, "ping", "-n", "-c", "1", "-W", "0.02", address]
    return subprocess.run(ping, capture_output=True, check=False).returncode == 0


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    images = lab_images.build()
    directory = tempfile.mkdtemp(prefix="boot-bench-")
    underlay = free_underlay([f"198.18.{n}.0/24" for n in range(200, 256)])
    lab = lab_up(directory=directory, prefix=PREFIX, nodes=2, route_reflectors=1,
                 underlay=underlay)  # fmt: skip
    try:
        kinds = {
            "libvirt (QEMU TCG)": (
                "node1", LibvirtDriver(domain_type="qemu",
                                       state_dir=lab.hosts["node1"].hypervisor_dir),
                GuestImage(kernel=images.kernel, initrd=images.initrd,
                           ready_marker=images.ready_marker, boot_timeout=120),
                lambda name: f"virsh -q -c '{{uri}}' start {name}",
            ),
            "LXD": (
                "node2", LxdDriver(state_dir=lab.hosts["node2"].hypervisor_dir),
                GuestImage(lxd_alias=images.lxd_alias, lxd_metadata=images.lxd_metadata,
                           lxd_rootfs=images.lxd_rootfs, ready_marker=images.ready_marker,
                           boot_timeout=60),
                lambda name: f"{{lxc}} start {name} </dev/null",
            ),
        }  # fmt: skip
        results = {}
        for n, (kind, (node, driver, image, start)) in enumerate(kinds.items(), start=1):
            host = lab.hosts[node]
            guest = GuestSpec(
                guest_id=str(n), vcpus=1, memory_mb=128, disk_gb=1, ipv4=f"203.0.113.{100 + n}",
                vnet=f"vnet{n}", gateway_ipv4="10.0.0.1", gateway_mac="02:00:0a:00:00:01",
                guest_mac=f"02:fa:00:00:00:{n:02x}", image=image,
            )  # fmt: skip
            target = SSHTarget(host=host.address, private_key=lab.ssh_private_key,
                               host_key_policy=HostKeyPolicy.INSECURE)  # fmt: skip
            with SSHSession(target) as session:
                facts = node_setup.gather_facts(session)
                hypervisor = "libvirt" if isinstance(driver, LibvirtDriver) else "lxd"
                print(kind, node_setup.ensure_hypervisor(
                    session, hypervisor=hypervisor, facts=facts,
                    options={"state_dir": host.hypervisor_dir}))  # fmt: skip
                driver.create(session, guest)
                driver.attach_network(session, guest)
                command = start(guest.name).format(
                    uri=getattr(getattr(driver, "layout", None), "uri", ""),
                    lxc=getattr(driver, "lxc", ""),
                )
                samples = []
                for _ in range(rounds):
                    driver.stop(session, guest)
                    while answers(host.namespace, guest.ipv4):
                        time.sleep(0.05)
                    started = time.monotonic()
                    session.run(command)
                    while not answers(host.namespace, guest.ipv4):
                        if time.monotonic() - started > 120:
                            raise RuntimeError(f"{kind}: no answer after 120 s")
                    samples.append(time.monotonic() - started)
                    driver.attach_network(session, guest)  # LXD: the new vnet's MAC
                results[kind] = samples
                driver.detach_network(session, guest)
                driver.delete(session, guest)
        print(f"\nboot to ping ({rounds} rounds; start command -> first echo reply at the node)")
        for kind, samples in results.items():
            listed = ", ".join(f"{s:.2f}" for s in samples)
            print(f"  {kind:20} median {statistics.median(samples):6.2f} s   [{listed}]")
    finally:
        lab_down(directory=directory, prefix=PREFIX)
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
