"""Reconcile finds drift on real devices and repairs it, recording what it changed."""

from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.compute.reconcile import reconcile
from apps.compute.services import vm_order
from apps.compute.workflows import vm_create
from apps.fabric.models import Node
from apps.fabric.selectors import node_bird_config
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from tests.conftest import wait_for
from tests.e2e.conftest import assert_succeeded, birdc, run_inline
from tests.factories import make_plan, make_tenant
from workers.render import render_node_bird

pytestmark = pytest.mark.lab


def test_reconcile_repairs_a_missing_route_a_hand_edited_config_and_an_rr_missing_a_node(
    lab, ready_cluster
):
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="drifty")
    run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
    vm.refresh_from_db()
    assert vm.state == "running"
    address = vm.ip_addresses.get().address
    node_host, node = lab.hosts["node1"], Node.objects.get(name="node1")

    clean = run_inline("reconcile", None, reconcile)
    assert_succeeded(clean)
    assert {s.state for s in clean.steps.all()} == {"skipped"}  # nothing drifted yet

    node_host.run(f"ip route del {address}/32")  # 1. a VM route lost on its node
    with open(node_host.bird_conf, "a") as conf:  # 2. a hand-edited bird.conf
        conf.write("# edited by hand\n")
    rr_conf = Path(lab.hosts["rr1"].bird_conf)  # 3. an RR that lost a node
    text = rr_conf.read_text()
    start = text.index(f"protocol bgp node_{node.pk} from node_session {{")
    rr_conf.write_text(text[:start] + text[text.index("\n}\n", start) + 3 :])

    job = run_inline("reconcile", None, reconcile)

    assert_succeeded(job)
    steps = {s.name: s for s in job.steps.all()}
    assert "rewritten" in steps["reconcile_rr_rr1"].output
    assert steps["reconcile_rr_rr2"].state == "skipped"
    node_step = steps["reconcile_node_node1"].output
    assert f"VM drifty: route {address}/32 dev {vm.vnet_name} was missing" in node_step
    assert "bird.conf differed from the desired config" in node_step
    assert f"{address} dev {vm.vnet_name}" in node_host.run(f"ip route show {address}/32").stdout
    assert Path(node_host.bird_conf).read_text() == render_node_bird(node_bird_config(node))
    assert f"protocol bgp node_{node.pk} from node_session {{" in rr_conf.read_text()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "running"


def test_reconcile_reports_an_unreachable_device_and_still_checks_the_others(lab, ready_cluster):
    Node.objects.filter(name="node1").update(ssh_port=2)

    job = run_inline("reconcile", None, reconcile)

    assert job.state == "failed"
    assert "could not reconcile: node node1" in job.error
    steps = {s.name: s.state for s in job.steps.all()}
    assert steps["reconcile_node_node1"] == "failed"
    assert steps["reconcile_rr_rr1"] in ("skipped", "succeeded")
    assert steps["reconcile_rr_rr2"] in ("skipped", "succeeded")


def test_bird_down_on_a_node_is_started_again_by_reconcile(lab, ready_cluster):
    node_host = lab.hosts["node1"]
    node_host.run(f"kill $(cat {node_host.bird_socket.removesuffix('.ctl')}.pid)")
    wait_for(lambda: "BIRD" not in birdc(lab, "node1", "show status"), timeout=10)

    job = run_inline("reconcile", None, reconcile)

    assert_succeeded(job)
    assert "BIRD was not running: started" in job.steps.get(name="reconcile_node_node1").output
    wait_for(lambda: "Established" in birdc(lab, "node1", "show protocols"), timeout=30)
