"""Reconcile: find where devices drifted from the database and put them back.

Run by Celery beat (every FABRIC_RECONCILE_SECONDS) as a `reconcile` Job. Each device
is one step that says "no drift" (skipped) or what it repaired; a device that cannot be
reached fails its own step and the others are still checked.

It lives in compute because it repairs the VMs' networks too: compute builds on fabric.
"""

import logging
from contextlib import ExitStack

from apps.compute.models import VirtualMachine
from apps.compute.workflows import guest_spec, node_driver
from apps.fabric.connections import bird_paths, connect
from apps.fabric.models import Cluster, Node, RouteReflector
from apps.fabric.selectors import (
    desired_node_bird,
    desired_route_reflector_bird,
    node_firewall_config,
    serving_nodes,
)
from apps.jobs.registry import workflow
from apps.jobs.runner import JobRun
from apps.jobs.services import job_start
from workers import firewall, node_setup
from workers.bird_remote import apply_config
from workers.errors import DeviceError
from workers.ssh import SSHSession

logger = logging.getLogger(__name__)


class DevicesFailed(DeviceError):
    """Some devices could not be checked or repaired (their steps say why)."""


class VmNetworkIncomplete(DeviceError):
    """A running VM's network could not be made complete again."""


@workflow(
    "reconcile", label="Reconcile", restart=lambda _, by: job_start(kind="reconcile", created_by=by)
)
def reconcile(run: JobRun) -> None:
    failed = []
    clusters = Cluster.objects.exclude(state__in=[Cluster.State.NEW, Cluster.State.FAILED])
    for cluster in clusters.order_by("pk"):
        for rr in cluster.route_reflectors.filter(state=RouteReflector.State.READY).order_by("pk"):
            if not _device_step(run, f"reconcile_rr_{rr.name}", rr, _reconcile_rr):
                failed.append(f"route reflector {rr.name}")
        for node in serving_nodes(cluster):
            if not _device_step(run, f"reconcile_node_{node.name}", node, _reconcile_node):
                failed.append(f"node {node.name}")
    if failed:
        raise DevicesFailed(f"could not reconcile: {', '.join(failed)}")


def _device_step(run: JobRun, name: str, host, check) -> bool:
    try:
        with ExitStack() as stack, run.step(name) as step:
            step.record(
                **{"route_reflector" if isinstance(host, RouteReflector) else "node": host.pk}
            )
            repairs = check(connect(stack, host), host)
            step.record(repairs=repairs)
            if repairs:
                for repair in repairs:
                    step.log(f"repaired: {repair}")
            else:
                step.skip("no drift")
    except Exception as exc:  # one device down must not hide the others' drift
        logger.warning("reconcile of %s failed: %s", host, exc)
        return False
    return True


def _apply_if_drifted(session: SSHSession, host, text: str) -> list[str]:
    result = apply_config(session, bird_paths(host), text)
    if result.started:
        return ["BIRD was not running: started with the desired bird.conf"]
    if result.adopted_backup:
        return [f"bird.conf was not the product's: adopted, copy kept as {result.adopted_backup}"]
    if result.changed:
        summary = _diff_summary(result.previous, text)
        return [f"bird.conf differed from the desired config: rewritten ({summary})"]
    return []


def _diff_summary(previous: str | None, desired: str) -> str:
    if previous is None:
        return "it was missing"
    old, new = set(previous.splitlines()), set(desired.splitlines())
    return f"{len(new - old)} line(s) restored, {len(old - new)} removed"


def _reconcile_rr(session: SSHSession, rr: RouteReflector) -> list[str]:
    return _apply_if_drifted(session, rr, desired_route_reflector_bird(rr))


def _reconcile_node(session: SSHSession, node: Node) -> list[str]:
    """The node's routing sysctls, packet filter, running VMs' networks and bird.conf."""
    repairs = node_setup.repair_sysctls(session, persist=node.persist_host_config)
    config = node_firewall_config(node)
    desired = firewall.render_node_firewall(config)
    drift = firewall.read_and_compare(session, desired)
    if drift:
        firewall.repair(session, drift, desired)
    repairs += drift.describe()
    driver = node_driver(node)
    vms = node.virtual_machines.filter(state=VirtualMachine.State.RUNNING).select_related(
        "cluster", "plan"
    )
    for vm in vms.prefetch_related("ip_addresses"):
        repairs += _repair_vm_network(session, driver, vm, guest_spec(vm))
    repairs += _apply_if_drifted(session, node, desired_node_bird(node))
    return repairs


def _repair_vm_network(session: SSHSession, driver, vm: VirtualMachine, spec) -> list[str]:
    """A running VM's vnet (gateway address and MAC, proxy ARP, its routes) and, where the
    driver sees it, the guest's side: made complete again; what was missing, in words.

    Raises:
        VmNetworkIncomplete: still incomplete after the repair.
    """
    problems = driver.network_problems(session, spec)
    if not problems:
        return []
    if not driver.exists(session, spec):
        return [f"VM {vm.name}: guest missing on the node (not recreated; see its page)"]
    driver.attach_network(session, spec)
    if left := driver.network_problems(session, spec):
        raise VmNetworkIncomplete(f"VM {vm.name}: still {'; '.join(left)} after a repair")
    return [f"VM {vm.name}: {problem}" for problem in problems]
