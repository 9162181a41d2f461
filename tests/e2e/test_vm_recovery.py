"""A running VM stays reachable: after Stop → Start, after its vnet is damaged by hand, and
after its node lost the routing prerequisites (a new lab on an old database) — each found and
repaired by Start or by `reconcile`, which says what it did."""

import io

import pytest
from django.core.management import call_command

from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.compute.workflows import vm_create, vm_start, vm_stop
from apps.fabric.lab_records import lab_vm_namespace_prefix
from apps.fabric.models import BorderGateway, Node, RouteReflector
from apps.fabric.reconcile import reconcile
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from tests.e2e.conftest import assert_succeeded, ping, run_inline
from tests.factories import make_plan, make_tenant

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


def test_seed_lab_on_an_existing_database_follows_the_new_lab_and_queues_its_preparation(lab, db):
    call_command("seed_lab", lab_dir=lab.dir, stdout=io.StringIO())
    stale_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPreviousLabKeyPreviousLabKeyPreviousLab"
    BorderGateway.objects.update(mgmt_port=1, ssh_host_key=stale_key)
    Node.objects.update(ssh_host_key=stale_key)
    RouteReflector.objects.update(ssh_host_key=stale_key)

    out = io.StringIO()
    call_command("seed_lab", lab_dir=lab.dir, stdout=out)

    assert "records now point at this lab" in out.getvalue()
    bgw = BorderGateway.objects.get()
    assert (bgw.mgmt_port, bgw.ssh_host_key) == (lab.junos_port, lab.junos_host_key)
    for device in [*Node.objects.all(), *RouteReflector.objects.all()]:
        assert device.ssh_host_key == lab.host_key(device.name), device
    assert Job.objects.filter(kind="cluster_provision").count() == 2
    assert Job.objects.filter(kind="reconcile", state="queued").count() == 1
