"""A running VM stays reachable: after Stop → Start, after its vnet is damaged by hand, and
after its node lost the routing prerequisites (a new lab on an old database) — each found and
repaired by Start or by `reconcile`, which says what it did."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.compute.models import VirtualMachine
from apps.compute.reconcile import reconcile
from apps.compute.services import vm_order
from apps.compute.workflows import vm_create, vm_start, vm_stop
from apps.fabric.models import BorderGateway, Node, RouteReflector
from apps.fabric.services import node_update
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from lab.seeding.records import lab_vm_namespace_prefix
from tests.e2e.conftest import assert_succeeded, ping, run_inline
from tests.factories import make_plan, make_tenant
from workers.node_setup import SYSCTL_FILE

pytestmark = pytest.mark.lab


def running_vm(lab, cluster, name: str) -> VirtualMachine:
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name=name)
    run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
    vm.refresh_from_db()
    assert vm.state == "running"
    assert reachable(lab, vm)
    return vm


def reachable(lab, vm: VirtualMachine, tries: int = 3) -> bool:
    """Whether the core's pings reach the guest (a few tries: BGP may still be converging)."""
    address = vm.ip_addresses.get(family=4).address
    return any(ping(lab, lab.core.namespace, address) for _ in range(tries))


def node_step(job: Job) -> str:
    return job.steps.get(name="reconcile_node_node1").output


def test_a_vm_stopped_then_started_answers_from_the_core_again(lab, ready_cluster):
    vm = running_vm(lab, ready_cluster, "sleepy")

    assert_succeeded(run_inline("vm_stop", vm, vm_stop))
    assert not ping(lab, lab.core.namespace, vm.ip_addresses.get(family=4).address)
    assert_succeeded(run_inline("vm_start", vm, vm_start))

    vm.refresh_from_db()
    assert vm.state == "running"
    guest = f"{lab_vm_namespace_prefix(lab)}{vm.pk}"
    assert "default via" in lab.core.run(f"ip -n {guest} route show default").stdout
    assert reachable(lab, vm), "Start must restore the guest's default route"


def test_reconcile_completes_a_running_vms_damaged_vnet(lab, ready_cluster):
    vm = running_vm(lab, ready_cluster, "damaged")
    node, vnet = lab.hosts["node1"], vm.vnet_name
    gateway = ready_cluster.gateway_ipv4
    node.run(f"ip addr del {gateway}/32 dev {vnet}")
    node.run(f"sysctl -qw net.ipv4.conf.{vnet}.proxy_arp=0")
    node.run(f"ip -n {lab_vm_namespace_prefix(lab)}{vm.pk} route del default")
    assert not reachable(lab, vm)

    job = run_inline("reconcile", None, reconcile)

    assert_succeeded(job)
    output = node_step(job)
    assert f"VM damaged: {vnet} lacked the gateway address {gateway}" in output, output
    assert f"VM damaged: {vnet} lacked proxy ARP" in output, output
    assert "VM damaged: the guest had no default route" in output, output
    assert reachable(lab, vm)
    again = run_inline("reconcile", None, reconcile)
    assert again.steps.get(name="reconcile_node_node1").state == "skipped", node_step(again)


def test_reconcile_restores_the_nodes_routing_prerequisites(lab, ready_cluster):
    vm = running_vm(lab, ready_cluster, "forwarded")
    node = lab.hosts["node1"]
    node.run("sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.default.proxy_arp=0")
    assert not reachable(lab, vm)

    job = run_inline("reconcile", None, reconcile)

    assert_succeeded(job)
    output = node_step(job)
    assert "net.ipv4.ip_forward was 0: set to 1" in output, output
    assert "net.ipv4.conf.default.proxy_arp was 0: set to 1" in output, output
    assert node.run("sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
    assert reachable(lab, vm)


@pytest.fixture
def host_sysctl_file():
    """The lab's nodes share this machine's /etc: the file is absent during the test, and
    what was there before is put back."""
    path = Path(SYSCTL_FILE)
    before = path.read_text() if path.exists() else None
    path.unlink(missing_ok=True)
    yield path
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(before)


def test_the_nodes_option_alone_decides_whether_its_sysctls_are_persisted(
    lab, host_sysctl_file, ready_cluster
):
    node_host, node = lab.hosts["node1"], Node.objects.get(name="node1")
    assert node.persist_host_config is False  # the lab's records: its nodes share this /etc
    node_host.run("sysctl -qw net.ipv4.ip_forward=0")
    assert_succeeded(run_inline("reconcile", None, reconcile))
    assert node_host.run("sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
    assert not host_sysctl_file.exists()  # neither node_add nor reconcile wrote it

    node_update(node, persist_host_config=True)  # the same netns node: only the option changed
    node_host.run("sysctl -qw net.ipv4.ip_forward=0")
    assert_succeeded(run_inline("reconcile", None, reconcile))

    assert "net.ipv4.ip_forward = 1" in host_sysctl_file.read_text()


def test_seed_lab_on_an_existing_database_follows_the_new_lab_and_queues_its_preparation(lab, db):
    call_command("seed_lab", lab_dir=lab.dir, stdout=io.StringIO())
    stale_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPreviousLabKeyPreviousLabKeyPreviousLab"
    BorderGateway.objects.update(mgmt_port=1, ssh_host_key=stale_key)
    Node.objects.update(ssh_host_key=stale_key, persist_host_config=True)
    RouteReflector.objects.update(ssh_host_key=stale_key)

    out = io.StringIO()
    call_command("seed_lab", lab_dir=lab.dir, stdout=out)

    assert "records now point at this lab" in out.getvalue()
    bgw = BorderGateway.objects.get()
    assert (bgw.mgmt_port, bgw.ssh_host_key) == (lab.junos_port, lab.junos_host_key)
    for device in [*Node.objects.all(), *RouteReflector.objects.all()]:
        assert device.ssh_host_key == lab.host_key(device.name), device
    assert not Node.objects.filter(persist_host_config=True).exists()
    assert Job.objects.filter(kind="cluster_provision").count() == 2
    assert Job.objects.filter(kind="reconcile", state="queued").count() == 1
