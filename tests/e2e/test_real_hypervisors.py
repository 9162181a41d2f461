"""Real hypervisors in the lab: a libvirt/QEMU VM and an LXD container, end to end.

Node setup starts a private libvirtd (node2) and LXD (node3) inside the lab nodes'
namespaces, over SSH, as on a real server; the guests boot the project's offline images
(lab/images.py) and are ordered through the services, built by the real Celery worker.

Proof that the answer comes from the guest, not from the node:
- the core's ping replies arrive with TTL 63: one router (the node) between the core and
  whoever answered; the node itself would answer with 64;
- http://VM_IP/ (busybox httpd in the guest) names the guest's hostname (`fabric-vm-<id>`),
  its eth0 MAC (the VM's 02:fa:... MAC; the node's vnet has the cluster gateway MAC) and,
  for QEMU, a kernel and boot id that are not the machine's;
- the node holds no such address (`ip addr` on the node).
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.compute.models import GuestImage, VirtualMachine
from apps.compute.services import vm_order
from apps.fabric.models import Cluster, Node
from apps.fabric.services import cluster_provision_start, node_create
from apps.ipam.models import IPAddress
from apps.tenancy.services import api_key_create
from lab import images as lab_images
from tests.conftest import wait_for
from tests.e2e.api_client import Api
from tests.e2e.conftest import assert_succeeded, build_cluster, core_routes, wait_job
from tests.e2e.test_isolation import INTERNET_HOST
from tests.factories import make_plan, make_tenant

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

HYPERVISOR_TOOLS = ("virsh", "libvirtd", "qemu-system-x86_64", "lxd", "lxc", "busybox", "cpio")


@pytest.fixture(scope="session")
def guest_images():
    """The lab's offline images (built once into the cache, then reused)."""
    missing = [tool for tool in HYPERVISOR_TOOLS if not _which(tool)]
    if missing:
        message = f"{', '.join(missing)} not installed (make test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return lab_images.build()


@pytest.fixture(autouse=True, scope="module")
def _host_sysctl_file():
    """These lab nodes share this machine's /etc (persist_host_config off); should one have
    persisted its routing sysctls all the same, the file is removed again."""
    path = Path("/etc/sysctl.d/90-fabric-portal.conf")
    existed = path.exists()
    yield
    if not existed:
        path.unlink(missing_ok=True)


def _which(tool: str) -> bool:
    import shutil

    return bool(shutil.which(tool) or Path("/usr/sbin", tool).exists())


def add_hypervisor_node(lab, cluster: Cluster, name: str, hypervisor: str, **fields) -> Node:
    host = lab.hosts[name]
    options = {
        "hypervisor_options": {"state_dir": host.hypervisor_dir},
        "persist_host_config": False,
    }
    return node_create(
        **{
            "cluster": cluster, "name": name, "underlay_ip": host.address,
            "hypervisor": hypervisor, "ssh_private_key": lab.ssh_private_key,
            "ssh_host_key": lab.host_key(name), "bird_config_path": host.bird_conf,
            "bird_socket_path": host.bird_socket,
            "vcpus": 2, "memory_mb": 1024, "disk_gb": 10, **options, **fields,
        }
    )  # fmt: skip


def qemu_image(images, **fields) -> GuestImage:
    defaults = {
        "name": "lab-busybox-qemu", "hypervisor": "libvirt", "kernel": images.kernel,
        "initrd": images.initrd, "ready_marker": images.ready_marker,
        "boot_timeout_seconds": 120,
    }  # fmt: skip
    image = GuestImage(**{**defaults, **fields})
    image.full_clean()
    image.save()
    return image


def lxd_image(images) -> GuestImage:
    image = GuestImage(
        name="lab-busybox-lxd", hypervisor="lxd", lxd_alias=images.lxd_alias,
        lxd_metadata=images.lxd_metadata, lxd_rootfs=images.lxd_rootfs,
        ready_marker=images.ready_marker, boot_timeout_seconds=60,
    )  # fmt: skip
    image.full_clean()
    image.save()
    return image


def lab_cluster(lab) -> Cluster:
    cluster = build_cluster(lab, group="HV")
    Cluster.objects.filter(pk=cluster.pk).update(virtualization=Cluster.Virtualization.LXD)
    assert_succeeded(wait_job(cluster_provision_start(cluster=cluster)))
    cluster.refresh_from_db()
    return cluster


def in_namespace(namespace: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, "sh", "-c", command],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def internet_host(lab) -> str:
    """The core's internet-side address (added when missing; removed after the module).

    Traffic "from the internet" comes from it: the core's own underlay address is the
    provider's side, which the nodes' packet filter keeps guests from.
    """
    done = in_namespace(lab.core.namespace, f"ip addr replace {INTERNET_HOST}/32 dev lo")
    assert done.returncode == 0, done.stderr
    return INTERNET_HOST


@pytest.fixture(autouse=True, scope="module")
def _no_internet_host_left(lab):
    yield
    in_namespace(lab.core.namespace, f"ip addr del {INTERNET_HOST}/32 dev lo")


def ping_ttl(lab, address: str) -> int | None:
    """TTL of the reply to a ping from the internet (the core) to `address` (None: none)."""
    source = internet_host(lab)
    out = in_namespace(lab.core.namespace, f"ping -n -c 1 -W 1 -I {source} {address}").stdout
    found = re.search(r"ttl=(\d+)", out)
    return int(found[1]) if found else None


def http_get(lab, address: str) -> str:
    """http://ADDRESS/ fetched from the internet (the core) ("" when nothing answers)."""
    code = (
        "import http.client,sys;"
        f"c=http.client.HTTPConnection('{address}',80,timeout=3,"
        f"source_address=('{internet_host(lab)}',0));"
        "c.request('GET','/');sys.stdout.write(c.getresponse().read().decode())"
    )
    return in_namespace(lab.core.namespace, f"{sys.executable} -c {shlex.quote(code)}").stdout


def identity(lab, address: str) -> dict[str, str]:
    text = wait_for(lambda: http_get(lab, address), timeout=30, message=f"{address}:80 silent")
    return dict(re.findall(r"(\w+)=(\S+)", text))


def address_of(vm: VirtualMachine) -> str:
    return vm.ip_addresses.get(family=4).address


def assert_answers_from_guest(lab, vm: VirtualMachine, *, own_kernel: bool) -> dict[str, str]:
    address = address_of(vm)
    assert wait_for(lambda: ping_ttl(lab, address), timeout=30) == 63, "one hop: the node"
    seen = identity(lab, address)
    assert seen["hostname"] == f"fabric-vm-{vm.pk}"
    assert seen["mac"] == vm.mac_address != vm.cluster.gateway_mac
    assert seen["addr"] == f"{address}/32"
    node_addresses = lab.hosts[vm.node.name].run("ip -4 -o addr show").stdout
    assert f" {address}/" not in node_addresses, "the node does not hold the VM's address"
    host_boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    if own_kernel:  # a QEMU guest runs a kernel of its own
        assert seen["boot_id"] != host_boot_id and seen["kernel"] != os.uname().release
    else:  # a container shares the node's kernel
        assert seen["kernel"] == os.uname().release
    return seen


def node_has(lab, node: str, command: str) -> bool:
    return lab.hosts[node].run(command, check=False).returncode == 0


def virsh(lab, node: str, args: str) -> subprocess.CompletedProcess:
    hv = lab.hosts[node].hypervisor_dir
    uri = f"qemu+unix:///system?socket={hv}/libvirt/run/libvirt-sock"
    return subprocess.run(["sh", "-c", f"virsh -q -c '{uri}' {args}"], capture_output=True,
                          text=True, check=False)  # fmt: skip


def lxc(lab, node: str, args: str) -> subprocess.CompletedProcess:
    hv = lab.hosts[node].hypervisor_dir
    return subprocess.run(["sh", "-c", f"LXD_DIR={hv}/lxd lxc {args}"], capture_output=True,
                          text=True, check=False)  # fmt: skip


def seconds_to_first_ping(lab, address: str, since: float, timeout: float = 120) -> float:
    wait_for(lambda: ping_ttl(lab, address), timeout=timeout, interval=0.05)
    return time.monotonic() - since


BOOT_TO_PING: dict[str, list[float]] = {"libvirt": [], "lxd": []}


def test_libvirt_vm_and_lxd_container_end_to_end(
    lab, celery_worker_process, guest_images, live_server
):
    cluster = lab_cluster(lab)
    kvm = add_hypervisor_node(lab, cluster, "node2", "libvirt")
    lxd = add_hypervisor_node(lab, cluster, "node3", "lxd")
    for node in (kvm, lxd):
        assert_succeeded(wait_job(node, "node_add", timeout=240))
        node.refresh_from_db()
        assert node.state == "ready"
    assert kvm.facts["libvirt"].startswith("libvirt ") and kvm.facts["hypervisor"].startswith(
        "QEMU "
    )
    assert re.match(r"^\d+\.\d+", lxd.facts["lxd"]), lxd.facts
    assert not node_has(lab, "node2", "ip link show type bridge | grep -q ."), "no bridge"
    assert not node_has(lab, "node3", "ip link show type bridge | grep -q ."), "no bridge"

    # 1. order one VM and one container through the API (as the tenant): both running, each
    #    on its node, answering itself
    tenant = make_tenant()
    _, secret = api_key_create(name="hypervisors", tenant=tenant, role="tenant_user")
    customer = Api(live_server.url, secret)
    vm_plan = make_plan(name="lab-vm", vcpus=1, memory_mb=128, disk_gb=1)
    ct_plan = make_plan(name="lab-ct", kind="container", vcpus=1, memory_mb=128, disk_gb=1)
    ordered = time.monotonic()
    orders = [
        customer.post("/vms/", {"plan": vm_plan.pk, "cluster": cluster.pk, "name": "qemu1",
                                "image": qemu_image(guest_images).pk}, expect=202),
        customer.post("/vms/", {"plan": ct_plan.pk, "cluster": cluster.pk, "name": "lxd1",
                                "image": lxd_image(guest_images).pk}, expect=202),
    ]  # fmt: skip
    for order in orders:
        customer.succeeded(order["job"], timeout=240)
    vm, ct = (
        VirtualMachine.objects.select_related("node", "cluster").get(pk=o["id"]) for o in orders
    )
    assert (vm.state, vm.node.name, ct.state, ct.node.name) == (
        "running",
        "node2",
        "running",
        "node3",
    )
    print(f"\n[hypervisors] both guests ordered -> running in {time.monotonic() - ordered:.1f}s")
    routes = wait_for(lambda: (r := core_routes(lab)) and len(r) >= 2 and r, timeout=20)
    assert routes[f"{address_of(vm)}/32"] == kvm.underlay_ip
    assert routes[f"{address_of(ct)}/32"] == lxd.underlay_ip
    first_boot = assert_answers_from_guest(lab, vm, own_kernel=True)
    assert_answers_from_guest(lab, ct, own_kernel=False)
    assert node_has(lab, "node2", f"ip link show {vm.vnet_name} | grep -q 02:00:0a:00:00:01")
    assert node_has(lab, "node3", f"ip link show {ct.vnet_name} | grep -q 02:00:0a:00:00:01")

    # 2. stop / start: no answer while stopped; the same address after, from a new boot
    for guest in (vm, ct):
        address = address_of(guest)
        customer.succeeded(customer.post(f"/vms/{guest.pk}/stop/", expect=202)["job"])
        wait_for(lambda a=address: ping_ttl(lab, a) is None, timeout=20)
        started = time.monotonic()
        customer.succeeded(customer.post(f"/vms/{guest.pk}/start/", expect=202)["job"],
                           timeout=180)  # fmt: skip
        took = seconds_to_first_ping(lab, address, started)
        BOOT_TO_PING[guest.node.hypervisor].append(took)
        print(f"[hypervisors] {guest.node.hypervisor} start job -> core ping: {took:.2f}s")
        guest.refresh_from_db()
        assert guest.state == "running" and address_of(guest) == address
    again = assert_answers_from_guest(lab, vm, own_kernel=True)
    assert again["boot_id"] != first_boot["boot_id"], "the VM really booted again"
    assert_answers_from_guest(lab, ct, own_kernel=False)

    # 3. delete: guest, vnet and route gone on the node and the core; the address is free
    for guest, node in ((vm, "node2"), (ct, "node3")):
        address = address_of(guest)
        customer.succeeded(customer.delete(f"/vms/{guest.pk}/", expect=202)["job"], timeout=120)
        wait_for(lambda a=address: f"{a}/32" not in core_routes(lab), timeout=20)
        assert not node_has(lab, node, f"ip link show {guest.vnet_name}")
        assert not node_has(lab, node, f"ip route show {address} | grep -q .")
        assert not IPAddress.objects.filter(address=address).exists()
        guest.refresh_from_db()
        assert guest.state == "deleted"
    assert virsh(lab, "node2", f"dominfo fabric-vm-{vm.pk}").returncode != 0
    assert virsh(lab, "node2", "list --all --name").stdout.strip() == ""
    assert lxc(lab, "node3", f"info fabric-vm-{ct.pk}").returncode != 0
    assert lxc(lab, "node3", "list -c n --format csv").stdout.strip() == ""


def test_guest_that_does_not_boot_fails_at_hypervisor_create(
    lab, celery_worker_process, guest_images
):
    cluster = lab_cluster(lab)
    kvm = add_hypervisor_node(lab, cluster, "node2", "libvirt")
    assert_succeeded(wait_job(kvm, "node_add", timeout=240))
    stuck = qemu_image(guest_images, name="lab-noboot", initrd=guest_images.noboot_initrd,
                       disk=guest_images.disk, boot_timeout_seconds=8)  # fmt: skip
    plan = make_plan(name="lab-vm", vcpus=1, memory_mb=128, disk_gb=1)
    vm = vm_order(tenant=make_tenant(), plan=plan, cluster=cluster, name="stuck", image=stuck)
    address = address_of(vm)

    job = wait_job(vm, "vm_create", timeout=180)
    print(f"\n[hypervisors] {job.error}")
    assert job.state == "failed"
    failed = [step.name for step in job.steps.filter(state="failed")]
    assert failed == ["hypervisor_create"], (failed, job.error)
    assert "not ready after 8s" in job.error and "stuck before the network" in job.error
    vm.refresh_from_db()
    assert vm.state == "failed" and vm.node is None
    assert not IPAddress.objects.filter(address=address).exists(), "IP released"
    # nothing left on the node: no domain, no tap, no route, no files (its disk included)
    assert virsh(lab, "node2", "list --all --name").stdout.strip() == ""
    assert not node_has(lab, "node2", f"ip link show vnet{vm.pk}")
    assert not node_has(lab, "node2", f"ip route show {address} | grep -q .")
    assert not list(Path(lab.hosts["node2"].hypervisor_dir, "libvirt/guests").glob("*"))


def test_node_without_its_hypervisor_fails_clearly_at_node_setup(
    lab, celery_worker_process, tmp_path
):
    """A host without libvirt and without apt-get to install it: a second sshd in node1's
    namespace, in a mount namespace where those programs are masked (not executable)."""
    host = lab.hosts["node1"]
    masked = ["/usr/sbin/libvirtd", "/usr/bin/virsh", "/usr/bin/apt-get"]
    config = Path(host.dir, "sshd_config").read_text()
    config = config.replace("Port 22", "Port 2222").replace(
        host.sshd_pidfile, str(tmp_path / "sshd.pid")
    )
    (tmp_path / "sshd_config").write_text(config)
    mounts = "; ".join(f"mount --bind /dev/null {path}" for path in masked)
    subprocess.run(
        ["nsenter", f"--net=/run/netns/{host.namespace}", "unshare", "-m",
         "--propagation", "private", "sh", "-ec",
         f"{mounts}; /usr/sbin/sshd -f {tmp_path}/sshd_config -E {tmp_path}/sshd.log"],
        check=True,
    )  # fmt: skip
    try:
        cluster = lab_cluster(lab)
        node = add_hypervisor_node(lab, cluster, "node1", "libvirt", ssh_port=2222)
        job = wait_job(node, "node_add", timeout=120)
        print(f"\n[hypervisors] {job.error}")
        assert job.state == "failed"
        assert [s.name for s in job.steps.filter(state="failed")] == ["node_prepare"]
        assert "HypervisorSetupFailed" in job.error
        assert "libvirt is not installed" in job.error and "no apt-get" in job.error
        node.refresh_from_db()
        assert node.state == "failed"
    finally:
        pid = int((tmp_path / "sshd.pid").read_text())
        os.kill(pid, 15)
