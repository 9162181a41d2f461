"""Guests on real hypervisors, through the API: each has a disk of its own at its plan's size,
the plan's vCPUs and RAM, and is isolated by its node's packet filter.

Two QEMU VMs boot from one disk image (lab/images.py: an ext4 filesystem holding
/fabric-image); two LXD containers from one image, on the btrfs pool node setup made. A
file the first guest writes is absent in the second (the second VM boots after the write:
with one disk file shared, it would see it); the block device has the plan's size; an LXD
container cannot write past its plan's size.

Then the node packet filter's proof for each hypervisor: a guest that takes another
tenant's address and pings the internet from it gets nothing to the core (counted there,
beside a control from its own address); it can't open TCP to its node's sshd (via the
gateway and the underlay address), a route reflector's 179 and 22, or the core's underlay
address, nor hand a BGP OPEN to its gateway; ping and HTTP from the internet still reach
every guest, and the guests reach each other by their public addresses (one node, two
nodes, two tenants). FABRIC_TEST_ISOLATION_FILTER_OFF=1 deletes the filter tables once the
guests are built: the negative checks must then fail.

QEMU boots are the slow part (TCG): this module boots two, and runs every check on them.
"""

import hashlib
import re
import time
from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.tenancy.services import api_key_create
from tests.conftest import wait_for
from tests.e2e import test_isolation, test_real_hypervisors
from tests.e2e.api_client import Api
from tests.e2e.conftest import assert_succeeded, wait_job
from tests.e2e.guests import bgp_open_accepted, guest_sh, tcp_connects
from tests.e2e.test_isolation import FILTER_OFF, counter
from tests.e2e.test_real_hypervisors import (
    add_hypervisor_node,
    address_of,
    assert_answers_from_guest,
    internet_host,
    lab_cluster,
    lxc,
    lxd_image,
    qemu_image,
)
from tests.factories import make_plan, make_tenant
from workers.firewall import TABLE

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]
guest_images = test_real_hypervisors.guest_images  # fixtures shared with other modules
core_probe = test_isolation.core_probe  # the fixture: the lab's offline images

GIB = 1024**3
STAMP = "fabric lab disk image"


def order(customer: Api, cluster, plan, image, name: str) -> dict:
    body = {"plan": plan.pk, "cluster": cluster.pk, "name": name, "image": image.pk}
    return customer.post("/vms/", body, expect=202)


def built(customer: Api, orders: list[dict]) -> list[VirtualMachine]:
    for placed in orders:
        customer.succeeded(placed["job"], timeout=240)
    return [
        VirtualMachine.objects.select_related("node", "plan", "cluster").get(pk=placed["id"])
        for placed in orders
    ]


def sh(lab, vm, command: str) -> str:
    """Output of `command` in `vm`, which must succeed."""
    done = guest_sh(lab, vm, command)
    assert done.ok, f"{command!r} in {vm} exited {done.status}: {done.output}"
    return done.output


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_plan_cpus_and_ram(lab, vm: VirtualMachine) -> None:
    plan = vm.plan
    if vm.node.hypervisor == "libvirt":
        assert int(sh(lab, vm, "grep -c ^processor /proc/cpuinfo")) == plan.vcpus
    else:  # /proc/cpuinfo is the node's: the container may run on the plan's CPUs only
        assert int(sh(lab, vm, "nproc")) == plan.vcpus
    if vm.node.hypervisor == "libvirt":  # a kernel of its own sees the VM's RAM, less what
        # it keeps for itself (about 35 MiB of this kernel and initramfs)
        total_kib = int(re.search(r"MemTotal:\s+(\d+)", sh(lab, vm, "cat /proc/meminfo"))[1])
        assert (plan.memory_mb - 48) * 1024 < total_kib <= plan.memory_mb * 1024, total_kib
    else:  # a container shares the node's kernel: its memory cgroup holds it to the plan's
        # RAM (the lab image mounts no cgroup filesystem: mount the container's own view)
        limit = sh(lab, vm, "mkdir -p /tmp/cg && { mount -t cgroup -o memory memory /tmp/cg "
                            "&& cat /tmp/cg/memory.limit_in_bytes || { mount -t cgroup2 none "
                            "/tmp/cg && cat /tmp/cg/memory.max; }; }")  # fmt: skip
        assert int(limit) == plan.memory_mb * 1024**2


def assert_isolated(lab, guest: VirtualMachine, *, spoofing: VirtualMachine, core_probe) -> None:
    """`guest` can't send from another tenant's address (`spoofing`'s) nor reach the
    fabric's own services: its node's sshd (via the gateway and the underlay address), a
    route reflector's BGP and SSH, the core; and a BGP OPEN to its gateway goes nowhere."""
    node = lab.hosts[guest.node.name]
    gateway, stolen = guest.cluster.gateway_ipv4, address_of(spoofing)
    own, internet = address_of(guest), internet_host(lab)
    core_probe(own), core_probe(stolen)  # start counting
    sh(lab, guest, f"ping -c 2 -W 2 -I {own} {internet}")
    assert core_probe(own) > 0, "the core counts what the guest sends from its own address"
    sh(lab, guest, f"ip addr add {stolen}/32 dev eth0")
    try:
        guest_sh(lab, guest, f"ping -c 3 -W 1 -I {stolen} {internet}")
        arrived = core_probe(stolen)
    finally:
        guest_sh(lab, guest, f"ip addr del {stolen}/32 dev eth0")
    if guest.node.hypervisor == "libvirt" and not FILTER_OFF:  # dropped by the node's filter
        # (an LXD routed NIC has a reverse-path filter of LXD's own, which drops it first)
        assert counter(node.namespace, "inet", TABLE, "spoofed IPv4 source") >= 3
    rr = lab.hosts["rr1"]
    leaks = {f"packets from {stolen} at the core": arrived}
    for where, port in ((gateway, 22), (node.address, 22), (rr.address, 179), (rr.address, 22),
                        (lab.core.address, 179)):  # fmt: skip
        leaks[f"TCP to {where}:{port}"] = tcp_connects(lab, guest, where, port)
    leaks[f"BGP OPEN to {gateway}"] = bgp_open_accepted(lab, guest, gateway)
    print(f"[isolation] {guest.node.hypervisor} {guest}: {leaks}")
    assert not any(leaks.values()), f"{guest} got through: {leaks}"


def assert_still_reachable(lab, guests: list[VirtualMachine]) -> None:
    """Ping and HTTP from the core reach every guest; each reaches the others (same node
    and across nodes) by their public addresses."""
    for guest in guests:
        assert_answers_from_guest(lab, guest, own_kernel=guest.node.hypervisor == "libvirt")
    for guest in guests:
        for peer in guests:
            if peer != guest:
                page = sh(lab, guest, "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | "
                                      f"nc -w 3 {address_of(peer)} 80")  # fmt: skip
                assert f"hostname=fabric-vm-{peer.pk} " in page, (guest, peer, page)
                assert tcp_connects(lab, guest, address_of(peer), 80)


def test_qemu_and_lxd_guests_have_their_own_disks_and_sizes_and_are_isolated(
    lab, celery_worker_process, guest_images, live_server, core_probe
):
    cluster = lab_cluster(lab)
    kvm = add_hypervisor_node(lab, cluster, "node2", "libvirt")
    lxd = add_hypervisor_node(lab, cluster, "node3", "lxd")
    for node in (kvm, lxd):
        assert_succeeded(wait_job(node, "node_add", timeout=240))
        node.refresh_from_db()
    assert lxd.facts["lxd_storage_driver"] == "btrfs", lxd.facts

    customers = []  # two tenants: the second's guests are "another tenant" to the first's
    for name in ("one", "two"):
        _, secret = api_key_create(name=name, tenant=make_tenant(), role="tenant_user")
        customers.append(Api(live_server.url, secret))
    customer, other = customers
    small = make_plan(name="vm-small", vcpus=1, memory_mb=128, disk_gb=1)
    large = make_plan(name="vm-large", vcpus=2, memory_mb=192, disk_gb=2)
    ct_plan = make_plan(name="ct-small", kind="container", vcpus=1, memory_mb=128, disk_gb=1)
    disk_image = qemu_image(guest_images, name="lab-busybox-disk", disk=guest_images.disk)
    ct_image = lxd_image(guest_images)
    catalog_disk = sha256(guest_images.disk)

    # 1. the first VM and container write a file on their disk
    first, ct1 = built(customer, [order(customer, cluster, small, disk_image, "vm1"),
                                  order(customer, cluster, ct_plan, ct_image, "ct1")])  # fmt: skip
    assert sh(lab, first, "cat /data/fabric-image").strip() == STAMP, "the image's data"
    sh(lab, first, "echo tenant-one > /data/secret && sync")
    sh(lab, ct1, "echo tenant-one > /secret && sync")

    # 2. the next ones, from the same images, booted after the write, do not see it
    second, ct2 = built(other, [order(other, cluster, large, disk_image, "vm2"),
                                order(other, cluster, ct_plan, ct_image, "ct2")])  # fmt: skip
    assert sh(lab, second, "cat /data/fabric-image").strip() == STAMP
    assert not guest_sh(lab, second, "test -e /data/secret").ok, "the first VM's file leaked"
    assert not guest_sh(lab, ct2, "test -e /secret").ok, "the first container's file leaked"
    assert sh(lab, first, "cat /data/secret").strip() == "tenant-one", "each keeps its own"
    assert sha256(guest_images.disk) == catalog_disk, "the catalog's image is never written"

    # 3. the plan's size: the VM's block device; the container's root can't grow past it
    for vm in (first, second):
        sectors = int(sh(lab, vm, "cat /sys/block/vda/size"))
        assert sectors * 512 == vm.plan.disk_gb * GIB, (vm, sectors)
        print(f"\n[disks] {vm.name} df /data:\n{sh(lab, vm, 'df -k /data')}")
    fill = guest_sh(lab, ct1, "dd if=/dev/zero of=/fill bs=1M count=1200; s=$?; sync; exit $s")
    assert not fill.ok and "Disk quota exceeded" in fill.output, fill.output
    written = int(sh(lab, ct1, "stat -c %s /fill"))
    assert written <= ct_plan.disk_gb * GIB
    sh(lab, ct1, "rm -f /fill")
    root = lxc(lab, "node3", f"config device get fabric-vm-{ct1.pk} root size").stdout
    assert root.strip() == "1GiB"

    # 4. the plan's vCPUs and RAM reach both hypervisors
    for guest in (first, second, ct1):
        assert_plan_cpus_and_ram(lab, guest)

    # 5. isolation: what a guest may not reach, and what keeps working
    if FILTER_OFF:  # show that the negative checks can fail
        for node in ("node2", "node3"):
            lab.hosts[node].run(f"nft delete table inet {TABLE}; nft delete table arp {TABLE}")
    for guest, neighbour in ((first, second), (ct1, ct2)):
        assert_isolated(lab, guest, spoofing=neighbour, core_probe=core_probe)
    assert_still_reachable(lab, [first, second, ct1, ct2])

    # 6. each VM's disk is an overlay in the node's guest directory, gone with the VM
    guests_dir = Path(lab.hosts["node2"].hypervisor_dir, "libvirt/guests")
    overlays = {vm.pk: guests_dir / f"fabric-vm-{vm.pk}.qcow2" for vm in (first, second)}
    assert all(path.exists() for path in overlays.values())
    started = time.monotonic()
    for vm, owner in ((first, customer), (second, other), (ct1, customer), (ct2, other)):
        owner.succeeded(owner.delete(f"/vms/{vm.pk}/", expect=202)["job"], timeout=120)
    print(f"[disks] four guests deleted in {time.monotonic() - started:.1f}s")
    assert not any(path.exists() for path in overlays.values())
    assert not list(guests_dir.glob("*.qcow2*"))
    wait_for(lambda: lxc(lab, "node3", "list -c n --format csv").stdout.strip() == "",
             timeout=30)  # fmt: skip
