"""Reconcile: find where devices drifted from the database and put them back.

Run by Celery beat (every FABRIC_RECONCILE_SECONDS) as a `reconcile` Job. Each device
is one step that says "no drift" (skipped) or what it repaired; a device that cannot be
reached fails its own step and the others are still checked.
"""

import logging
import shlex
from contextlib import ExitStack

from apps.compute.models import VirtualMachine
from apps.fabric.connections import bird_paths, connect
from apps.fabric.models import Cluster, Node, RouteReflector
from apps.fabric.selectors import (
    node_bird_config,
    node_firewall_config,
    route_reflector_bird_config,
    serving_nodes,
)
from apps.jobs.runner import JobRun
from workers import firewall
from workers.bird_remote import apply_config
from workers.errors import DeviceError
from workers.render import render_node_bird, render_route_reflector_bird
from workers.ssh import SSHSession

logger = logging.getLogger(__name__)


class DevicesFailed(DeviceError):
    """Some devices could not be checked or repaired (their steps say why)."""


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
            repairs = check(connect(stack, host), host)
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
    return _apply_if_drifted(
        session, rr, render_route_reflector_bird(route_reflector_bird_config(rr))
    )


def _reconcile_node(session: SSHSession, node: Node) -> list[str]:
    from apps.compute.workflows import guest_spec, node_driver

    config = node_firewall_config(node)
    desired = firewall.render_node_firewall(config)
    drift = firewall.read_and_compare(session, desired)
    if drift:
        firewall.repair(session, drift, desired)
    repairs = drift.describe()
    driver = node_driver(node)
    vms = node.virtual_machines.filter(state=VirtualMachine.State.RUNNING).select_related(
        "cluster", "plan"
    )
    for vm in vms.prefetch_related("ip_addresses"):
        spec = guest_spec(vm)
        route = session.run(f"ip -4 route show {spec.ipv4}/32", check=False).stdout
        if f"dev {spec.vnet}" not in route:
            if not driver.exists(session, spec):
                repairs.append(
                    f"VM {vm.name}: guest missing on the node (not recreated; see its page)"
                )
                continue
            driver.attach_network(session, spec)
            repairs.append(
                f"VM {vm.name}: route {spec.ipv4}/32 dev {shlex.quote(spec.vnet)} restored"
            )
    repairs += _apply_if_drifted(session, node, render_node_bird(node_bird_config(node)))
    return repairs
