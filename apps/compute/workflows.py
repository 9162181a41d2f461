"""VM workflows: build, start, stop and tear down a VM and its route; each is one Job."""

import logging
import shlex
import time
from contextlib import ExitStack

from django.conf import settings

from apps.compute.models import VirtualMachine
from apps.compute.services import (
    POWER_TRANSITIONS,
    vm_delete_start,
    vm_place,
    vm_power_start,
    vm_set_state,
    vm_unplace,
)
from apps.fabric.connections import bird_paths, connect
from apps.fabric.models import Node
from apps.fabric.selectors import active_route_reflectors, rr_peer
from apps.fabric.workflows import apply_node_bird, apply_node_firewall
from apps.ipam.services import cluster_has_pool, ip_allocate, ip_release
from apps.jobs.registry import workflow
from apps.jobs.runner import JobRun
from workers import firewall
from workers.errors import DeviceError, RemoteCommandFailed
from workers.hypervisors import GuestImage, GuestSpec, driver_for
from workers.ssh import SSHSession

State = VirtualMachine.State
logger = logging.getLogger(__name__)


class RouteNotExported(DeviceError):
    """The node's BIRD did not export the VM's route to its route reflectors."""


def guest_image(vm: VirtualMachine) -> GuestImage | None:
    """The catalog image of `vm` as its driver sees it (None: the VM has none)."""
    image = vm.image
    if image is None:
        return None
    return GuestImage(
        kernel=image.kernel,
        initrd=image.initrd,
        disk=image.disk,
        lxd_alias=image.lxd_alias,
        lxd_metadata=image.lxd_metadata,
        lxd_rootfs=image.lxd_rootfs,
        ready_marker=image.ready_marker,
        boot_timeout=float(image.boot_timeout_seconds),
    )


def guest_spec(vm: VirtualMachine) -> GuestSpec:
    addresses = {ip.family: ip.address for ip in vm.ip_addresses.all()}
    cluster, plan = vm.cluster, vm.plan
    return GuestSpec(
        guest_id=str(vm.pk),
        vcpus=plan.vcpus,
        memory_mb=plan.memory_mb,
        disk_gb=plan.disk_gb,
        ipv4=addresses[4],
        ipv6=addresses.get(6, ""),
        vnet=vm.vnet_name,
        gateway_ipv4=cluster.gateway_ipv4,
        gateway_ipv6=cluster.gateway_ipv6 or "",
        gateway_mac=cluster.gateway_mac,
        guest_mac=vm.mac_address,
        image=guest_image(vm),
    )


def node_driver(node: Node):
    """The hypervisor driver of `node`, with this installation's settings and the node's
    options (`state_dir`: private daemons, as on lab nodes sharing one filesystem;
    `namespace_prefix`: netns "VM" names of labs sharing one kernel)."""
    options = {}
    if node.hypervisor in (Node.Hypervisor.LIBVIRT, Node.Hypervisor.LXD):
        options["state_dir"] = (node.hypervisor_options or {}).get("state_dir", "")
    if node.hypervisor == Node.Hypervisor.LIBVIRT:
        options["domain_type"] = settings.FABRIC_LIBVIRT_DOMAIN_TYPE
    prefix = (node.hypervisor_options or {}).get("namespace_prefix")
    if node.hypervisor == Node.Hypervisor.NETNS and prefix:
        options["namespace_prefix"] = prefix
    return driver_for(node.hypervisor, **options)


def _load(run: JobRun) -> VirtualMachine:
    return VirtualMachine.objects.select_related("cluster", "plan", "node", "image").get(
        pk=run.job.target_id
    )


# A failed build was undone (guest, route, addresses): it is ordered again, with the
# order's checks (quota, cluster ready, free address, name), not restarted.
NO_VM_CREATE_RESTART = (
    "A failed VM is not built again: its order was undone and its addresses released. "
    "Delete it and order it again (its name is free)."
)


@workflow(
    "vm_create",
    label="Create VM",
    target="compute.VirtualMachine",
    no_restart=NO_VM_CREATE_RESTART,
)
def vm_create(run: JobRun) -> None:
    """ip_allocate → place → hypervisor_create → network_attach → node_apply_bird →
    verify_export; on a final failure everything is undone and the IP released."""
    vm = _load(run)
    if vm.state == State.RUNNING:
        return
    vm_set_state(vm, State.PROVISIONING)
    try:
        _vm_create_steps(run, vm)
    except Exception as exc:
        if run.will_retry(exc):
            raise
        _undo_vm_create(run, vm)
        raise
    vm_set_state(vm, State.RUNNING)


def _vm_create_steps(run: JobRun, vm: VirtualMachine) -> None:
    with run.step("ip_allocate") as step:
        had = list(vm.ip_addresses.values_list("address", flat=True))
        ipv4 = ip_allocate(cluster=vm.cluster, vm=vm, family=4)
        if cluster_has_pool(vm.cluster, family=6):
            ip_allocate(cluster=vm.cluster, vm=vm, family=6)
        got = list(vm.ip_addresses.values_list("address", flat=True))
        step.record(addresses=got)
        (step.skip if had else step.log)(f"addresses: {', '.join(got)} (IPv4 {ipv4.address})")
    with run.step("place") as step:
        placed = bool(vm.node_id)
        vm = vm_place(vm)
        vm.refresh_from_db()
        step.record(node=vm.node_id, vnet=vm.vnet_name)
        (step.skip if placed else step.log)(f"node {vm.node.name}, interface {vm.vnet_name}")
    node, spec = vm.node, guest_spec(vm)
    driver = node_driver(node)
    with ExitStack() as stack:
        with run.step("hypervisor_create") as step:
            session = connect(stack, node)
            if driver.create_if_missing(session, spec):
                step.log(f"{driver.name} guest {spec.guest_id} created")
            else:
                step.skip(f"{driver.name} guest {spec.guest_id} already exists")
        with run.step("network_attach") as step:
            try:
                driver.attach_and_start(session, spec)
            except RemoteCommandFailed as exc:
                if exc.exit_status != firewall.MISSING_EXIT:
                    raise
                # a node prepared before the product had a packet filter: create it
                step.log(f"the node had no packet filter; {apply_node_firewall(session, node)}")
                driver.attach_and_start(session, spec)
            step.log(f"{spec.vnet} is {spec.gateway_ipv4} ({spec.gateway_mac})")
            step.log(f"route {spec.ipv4}/32 dev {spec.vnet}")
        apply_node_bird(run, session, node)
        with run.step("verify_export") as step:
            step.record(node=node.pk, prefix=f"{spec.ipv4}/32")
            step.log(verify_export(session, node, spec.ipv4))


def verify_export(session: SSHSession, node: Node, ipv4: str) -> str:
    """Wait until the node exports `ipv4`/32 on every Established RR session (one at least)."""
    rrs = [rr_peer(rr).protocol for rr in active_route_reflectors(node.cluster)]
    socket = shlex.quote(bird_paths(node).socket)
    command = "; ".join(
        f"echo @@{p}; birdc -s {socket} show route {ipv4}/32 export {p}" for p in rrs
    )
    deadline = time.monotonic() + settings.FABRIC_VERIFY_TIMEOUT
    while True:
        out = session.run(f"sh -c {shlex.quote(command)}", check=False).stdout
        answers = dict(zip(rrs, out.split("@@")[1:], strict=False))
        exported = [p for p in rrs if f"{ipv4}/32" in answers.get(p, "")]
        down = [p for p in rrs if p not in exported]
        if exported and (not down or time.monotonic() > deadline):
            note = f"; not exported to {', '.join(down)} (session down)" if down else ""
            return f"{ipv4}/32 exported to {', '.join(exported)}{note}"
        if time.monotonic() > deadline:
            raise RouteNotExported(
                f"{ipv4}/32 not exported to any route reflector ({', '.join(rrs)})"
            )
        time.sleep(0.1)


def _undo_vm_create(run: JobRun, vm: VirtualMachine) -> None:
    """Leave nothing behind: guest, vnet and route removed, BIRD re-applied, IP released."""
    vm.refresh_from_db()
    if vm.node_id and vm.ip_addresses.filter(family=4).exists():
        try:
            _teardown_on_node(run, vm)
        except Exception as exc:  # the node may be why we are here
            logger.warning("could not clean VM %s from node %s: %s", vm.pk, vm.node_id, exc)
            with run.step("node_cleanup_incomplete") as step:
                step.log(f"could not clean node {vm.node.name}: {type(exc).__name__}: {exc}")
    with run.step("ip_release") as step:
        released = ip_release(vm=vm)
        step.log(f"released {', '.join(released) or 'no addresses'}")
    vm_unplace(vm)
    vm_set_state(vm, State.FAILED)


def _teardown_on_node(run: JobRun, vm: VirtualMachine) -> None:
    node, spec = vm.node, guest_spec(vm)
    driver = node_driver(node)
    with ExitStack() as stack:
        with run.step("network_detach") as step:
            session = connect(stack, node)
            driver.detach_network(session, spec)
            step.log(f"{spec.vnet} and {spec.ipv4}/32 removed")
        vm_set_state(vm, State.DELETING)  # the node's BIRD config leaves the VM out
        apply_node_bird(run, session, node)
        with run.step("hypervisor_delete"):
            driver.delete(session, spec)


@workflow(
    "vm_delete",
    label="Delete VM",
    target="compute.VirtualMachine",
    restart=lambda vm, by: vm_delete_start(vm=vm, created_by=by),
)
def vm_delete(run: JobRun) -> None:
    """network_detach → node_apply_bird → hypervisor_delete → ip_release → deleted."""
    vm = _load(run)
    if vm.state == State.DELETED:
        return
    vm_set_state(vm, State.DELETING)
    if vm.node_id and vm.ip_addresses.filter(family=4).exists():
        _teardown_on_node(run, vm)
    with run.step("ip_release") as step:
        released = ip_release(vm=vm)
        step.log(f"released {', '.join(released) or 'nothing (already released)'}")
    vm.refresh_from_db()
    vm_set_state(vm, State.DELETED)


def _power(run: JobRun, *, start: bool) -> None:
    """hypervisor_start / hypervisor_stop, the VM `starting` / `stopping` meanwhile; a
    final failure puts it back in the state it left (the job says why)."""
    vm = _load(run)
    passing, target = POWER_TRANSITIONS[start]
    if vm.state == target:
        return
    before = State.STOPPED if start else State.RUNNING
    vm_set_state(vm, passing)  # set when queued; a job queued otherwise passes here too
    spec, driver = guest_spec(vm), node_driver(vm.node)
    try:
        with ExitStack() as stack, run.step("hypervisor_start" if start else "hypervisor_stop"):
            # a start also restores what the guest's network lost while it was down
            (driver.attach_and_start if start else driver.stop)(connect(stack, vm.node), spec)
    except Exception as exc:
        if not run.will_retry(exc):
            vm.refresh_from_db()
            if vm.state == passing:
                vm_set_state(vm, before)
        raise
    vm_set_state(vm, target)


@workflow(
    "vm_start",
    label="Start VM",
    target="compute.VirtualMachine",
    restart=lambda vm, by: vm_power_start(vm=vm, start=True, created_by=by),
)
def vm_start(run: JobRun) -> None:
    _power(run, start=True)


@workflow(
    "vm_stop",
    label="Stop VM",
    target="compute.VirtualMachine",
    restart=lambda vm, by: vm_power_start(vm=vm, start=False, created_by=by),
)
def vm_stop(run: JobRun) -> None:
    _power(run, start=False)
