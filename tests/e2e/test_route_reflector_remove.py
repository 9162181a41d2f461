"""Removing a route reflector from a running fabric, against the real lab: nodes and the
border gateway drop it first, the VMs' routes stay at the core through the other RR."""

from pathlib import Path

import pytest

from apps.compute.services import vm_order
from apps.compute.workflows import vm_create
from apps.fabric.models import Node, RouteReflector
from apps.fabric.services import node_drain, route_reflector_remove_start
from apps.fabric.workflows import route_reflector_remove
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from tests.conftest import wait_for
from tests.e2e.conftest import (
    assert_succeeded,
    birdc,
    core_routes,
    junos_committed,
    junos_events,
    ping,
)
from tests.factories import make_plan, make_tenant

pytestmark = pytest.mark.lab


def remove(rr: RouteReflector) -> Job:
    job = route_reflector_remove_start(rr=rr)
    run_job(job.pk, route_reflector_remove)
    job.refresh_from_db()
    return job


def running_vm(cluster, name: str) -> str:
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name=name)
    run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
    return vm.ip_addresses.get(family=4).address


def neighbor_line(rr: RouteReflector) -> str:
    return f"set protocols bgp group VM neighbor {rr.peering_ip}"


def test_removing_an_rr_keeps_every_route_through_the_other(lab, ready_cluster):
    address = running_vm(ready_cluster, "stays-up")
    rr1, rr2 = ready_cluster.route_reflectors.order_by("name")
    node = node_drain(Node.objects.get(name="node1"))  # draining: still runs and peers
    wait_for(lambda: f"{address}/32" in core_routes(lab), timeout=20)
    assert neighbor_line(rr2) in junos_committed(lab)
    events_before = len(junos_events(lab))

    job = remove(rr2)

    assert_succeeded(job)
    steps = [s.name for s in job.steps.order_by("position")]
    assert steps[:3] == ["rr_check", "node_connect", "node_apply_bird"]
    assert steps[-3:] == ["bgw_confirm", "rr_decommission", "rr_forget"]
    assert not RouteReflector.objects.filter(pk=rr2.pk).exists()
    node_conf = Path(lab.hosts["node1"].bird_conf).read_text()
    assert rr2.peering_ip not in node_conf and rr1.peering_ip in node_conf
    node_protocols = birdc(lab, "node1", "show protocols")
    assert f"rr_{rr2.pk}" not in node_protocols
    assert f"rr_{rr1.pk}" in node_protocols
    committed = junos_committed(lab)
    assert neighbor_line(rr2) not in committed and neighbor_line(rr1) in committed
    assert junos_events(lab)[events_before:][-2:] == ["commit_confirmed", "confirmed"]
    assert "BIRD" not in birdc(lab, "rr2", "show status")  # decommissioned: BIRD stopped
    assert "stopped" in job.steps.get(name="rr_decommission").output
    assert core_routes(lab)[f"{address}/32"] == node.underlay_ip
    assert ping(lab, lab.core.namespace, address)


def test_a_dead_rr_is_removed_without_reaching_it(lab, ready_cluster):
    rr2 = ready_cluster.route_reflectors.get(name="rr2")
    host = lab.hosts["rr2"]
    host.run(f"kill $(cat {host.bird_socket.removesuffix('.ctl')}.pid)")
    RouteReflector.objects.filter(pk=rr2.pk).update(ssh_port=2)  # its server is gone

    job = remove(rr2)

    assert_succeeded(job)
    decommission = job.steps.get(name="rr_decommission")
    assert decommission.state == "skipped" and "unreachable" in decommission.output
    assert neighbor_line(rr2) not in junos_committed(lab)
    assert not RouteReflector.objects.filter(pk=rr2.pk).exists()


def test_a_refused_commit_keeps_the_rr_marked_removing_and_a_second_try_finishes(
    lab, ready_cluster
):
    rr2 = ready_cluster.route_reflectors.get(name="rr2")
    committed_before = junos_committed(lab)
    switch = Path(lab.junos_dir, "fail-commit-check")
    switch.touch()
    try:
        failed = remove(rr2)
    finally:
        switch.unlink()

    assert failed.state == "failed" and "bgw_commit_check" in failed.error
    assert junos_committed(lab) == committed_before  # nothing committed
    assert "rr_forget" not in [s.name for s in failed.steps.all()]
    assert RouteReflector.objects.get(pk=rr2.pk).state == "removing"
    # meanwhile a new VM's route is checked on the RRs that stay, not on the one leaving
    address = running_vm(ready_cluster, "meanwhile")
    rr1 = ready_cluster.route_reflectors.get(name="rr1")
    created = Job.objects.filter(kind="vm_create").latest("pk")
    export = created.steps.get(name="verify_export").output.strip()
    assert export == f"{address}/32 exported to rr_{rr1.pk}"

    again = remove(rr2)

    assert_succeeded(again)
    assert neighbor_line(rr2) not in junos_committed(lab)
    assert not RouteReflector.objects.filter(pk=rr2.pk).exists()
