"""Writes for VMs: ordering and state changes."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.billing.services import usage_record_state
from apps.compute.models import GuestImage, IdempotencyKey, Plan, VirtualMachine
from apps.core.errors import Refused
from apps.core.services import (
    InvalidTransition,
    instance_create,
    instance_delete,
    instance_set_state,
    instance_update,
)
from apps.fabric.models import Cluster, Node
from apps.ipam.services import cluster_has_pool, ip_allocate
from apps.jobs.models import Job
from apps.jobs.selectors import jobs_for
from apps.jobs.services import job_start
from apps.tenancy.models import Tenant
from workers.hypervisors.lxd import SIZE_ENFORCING_DRIVERS, enforces_disk_size


class ClusterNotReady(Refused):
    """The cluster takes no orders yet: not provisioned (new, failed) or no ready node."""

    code, field = "not_ready", "cluster"


NOT_ORDERABLE_CLUSTER_STATES = (Cluster.State.NEW, Cluster.State.FAILED)


def cluster_refuses_orders(cluster: Cluster) -> str:
    """Why `cluster` can't build a VM now, or "" when it can (its state as stored now,
    not as the caller's copy last saw it)."""
    state = Cluster.objects.filter(pk=cluster.pk).values_list("state", flat=True).first()
    if state in NOT_ORDERABLE_CLUSTER_STATES:
        return (
            f"Cluster {cluster} is {state}: it takes orders once provisioned and "
            "ready; choose another."
        )
    if not cluster.nodes.filter(state=Node.State.READY).exists():
        return f"Cluster {cluster} has no ready node yet; choose another or try again later."
    return ""


@transaction.atomic
def vm_order(
    *,
    tenant: Tenant,
    plan: Plan,
    cluster: Cluster,
    name: str,
    description: str = "",
    created_by=None,
    image: GuestImage | None = None,
) -> VirtualMachine:
    """Record an order for a VM, give it its addresses, and queue `vm_create`.

    `image` is what the guest boots (libvirt and LXD nodes need one; lab netns nodes don't).

    The addresses are taken here, in the order's transaction, so an exhausted pool is
    reported to whoever ordered and nothing is saved.

    Raises:
        ValidationError: naming the field (name taken, inactive plan, quota reached...).
        ClusterNotReady: the cluster is new or failed, or has no ready node.
        PoolExhausted: no free address in the cluster's pools.
    """
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    errors = {}
    if not tenant.is_active:
        errors["tenant"] = "This tenant is suspended and cannot order."
    if not plan.is_active:
        errors["plan"] = f"Plan {plan} is no longer offered."
    if image is not None and not image.is_active:
        errors["image"] = f"Image {image} is no longer offered."
    elif image is not None and (refusal := disk_size_unenforceable(cluster=cluster, image=image)):
        errors.setdefault("plan", refusal)
    active = tenant.virtual_machines.exclude(state=VirtualMachine.State.DELETED).count()
    if active >= tenant.max_vms:
        errors["tenant"] = f"Quota reached: {tenant.max_vms} VMs for tenant {tenant}."
    if errors:
        raise ValidationError(errors)
    vm = VirtualMachine(
        tenant=tenant, plan=plan, cluster=cluster, name=name, description=description, image=image
    )
    vm.full_clean()
    if refusal := cluster_refuses_orders(cluster):
        raise ClusterNotReady(refusal)
    vm.save()
    usage_record_state(vm, at=vm.state_changed)
    ip_allocate(cluster=cluster, vm=vm, family=4)
    if cluster_has_pool(cluster, family=6):
        ip_allocate(cluster=cluster, vm=vm, family=6)
    job_start(kind="vm_create", target=vm, tenant=tenant, created_by=created_by)
    return vm


VM_ACTIONS = ("vm_start", "vm_stop", "vm_delete")


def _refuse_while_acting(vm: VirtualMachine) -> None:
    """One start, stop or delete at a time: another one queued or running is refused
    (its job named), so repeated clicks or retries queue nothing. Call with the VM locked."""
    job = jobs_for(vm).filter(kind__in=VM_ACTIONS, state__in=Job.ACTIVE_STATES).first()
    if job is not None:
        raise ValidationError(
            {
                "state": f"VM {vm} already has job #{job.pk} ({job.get_kind_display().lower()}, "
                f"{job.state}); wait for it to finish.",
                "job": str(job.pk),
            }
        )


@transaction.atomic
def vm_delete_start(*, vm: VirtualMachine, created_by=None) -> Job:
    """Queue the teardown of a VM (route withdrawn, guest deleted, IP released)."""
    vm = VirtualMachine.objects.select_for_update().get(pk=vm.pk)
    if vm.state == VirtualMachine.State.DELETING and _delete_failed(vm):
        _refuse_while_acting(vm)  # a delete that failed half-way: run it again
        return job_start(kind="vm_delete", target=vm, tenant=vm.tenant, created_by=created_by)
    if vm.state in (VirtualMachine.State.DELETING, VirtualMachine.State.DELETED):
        raise ValidationError({"state": f"VM {vm} is already {vm.get_state_display().lower()}."})
    if vm.state in (VirtualMachine.State.ORDERED, VirtualMachine.State.PROVISIONING):
        raise ValidationError({"state": f"VM {vm} is still being built; delete it once done."})
    _refuse_while_acting(vm)
    vm_set_state(vm, VirtualMachine.State.DELETING)  # at once: what the answer shows
    return job_start(kind="vm_delete", target=vm, tenant=vm.tenant, created_by=created_by)


def _delete_failed(vm: VirtualMachine) -> bool:
    """Whether the VM's last delete failed (it stays `deleting`; the teardown is idempotent
    and may run again)."""
    last = jobs_for(vm).filter(kind="vm_delete").only("state").first()
    return last is not None and last.state == Job.State.FAILED


# What a start or stop passes through on its way, and where a failed one goes back to.
POWER_TRANSITIONS = {
    True: (VirtualMachine.State.STARTING, VirtualMachine.State.RUNNING),
    False: (VirtualMachine.State.STOPPING, VirtualMachine.State.STOPPED),
}


@transaction.atomic
def vm_power_start(*, vm: VirtualMachine, start: bool, created_by=None) -> Job:
    """Queue a start or stop of a running/stopped VM; it is `starting` / `stopping` at
    once (what the answer and the page show) until the job is done."""
    vm = VirtualMachine.objects.select_for_update().get(pk=vm.pk)
    passing, wanted = POWER_TRANSITIONS[start]
    _refuse_while_acting(vm)  # first: a stop still under way is the better answer
    # `passing` with no job acting on it (the job was lost): the same action again
    allowed = (VirtualMachine.State.RUNNING, VirtualMachine.State.STOPPED, passing)
    if vm.state not in allowed:
        raise ValidationError({"state": f"VM {vm} is {vm.state}; it cannot be started or stopped."})
    if vm.state == wanted:
        raise ValidationError({"state": f"VM {vm} is already {wanted}."})
    vm_set_state(vm, passing)
    kind = "vm_start" if start else "vm_stop"
    return job_start(kind=kind, target=vm, tenant=vm.tenant, created_by=created_by)


@transaction.atomic
def vm_set_state(vm: VirtualMachine, state: str) -> VirtualMachine:
    """Move `vm` to `state` if its transition table allows it from the state stored now
    (staying put is allowed and announces nothing), and announce the change: a ledger row
    and the webhooks, naming the stored state it left. The one writer of a VM's state.

    Raises:
        InvalidTransition: the table forbids it, or a failed VM would come back under a
            name its tenant has given another VM since.
    """
    stored = (
        VirtualMachine.objects.select_for_update().values_list("state", flat=True).get(pk=vm.pk)
    )
    if stored == state:
        vm.state = state
        return vm
    if stored == VirtualMachine.State.FAILED and vm.name_taken(state=state):
        raise InvalidTransition(
            f"VM {vm} cannot go from {stored} to {state}: the tenant has another VM named "
            f"{vm.name} since; delete this one."
        )
    previous = instance_set_state(vm, state, state_changed=timezone.now())
    usage_record_state(vm, previous_state=previous, at=vm.state_changed)
    return vm


@transaction.atomic
def vm_unplace(vm: VirtualMachine) -> VirtualMachine:
    """Forget the VM's node and vnet (its guest and route are gone from the node)."""
    vm.node, vm.vnet_name = None, ""
    vm.save(update_fields=["node", "vnet_name"])
    return vm


class NoCapacity(Exception):
    """No ready node of the cluster has room for the plan."""


ACTIVE_VM_STATES = (
    VirtualMachine.State.PROVISIONING,
    *VirtualMachine.PLACED_STATES,
    VirtualMachine.State.DELETING,
)
HYPERVISORS_FOR_KIND = {
    Plan.Kind.VM: (Node.Hypervisor.LIBVIRT, Node.Hypervisor.NETNS),
    Plan.Kind.CONTAINER: (Node.Hypervisor.LXD, Node.Hypervisor.NETNS),
}


def node_enforces_disk_size(node: Node) -> bool:
    """Whether the node holds a guest to its plan's disk size: libvirt gives each VM a
    qcow2 overlay of that size; LXD only on a pool whose driver enforces `size=` (node
    setup records it in the node's facts; a node prepared before that counts as not)."""
    if node.hypervisor != Node.Hypervisor.LXD:
        return True
    return enforces_disk_size(node.facts or {})


def disk_size_unenforceable(*, cluster: Cluster, image: GuestImage) -> str:
    """Why no ready node of `cluster` for `image` could hold a guest to its plan's disk size,
    or "" when one can (or when no such node is ready: placement tells then)."""
    nodes = list(
        Node.objects.filter(cluster=cluster, state=Node.State.READY, hypervisor=image.hypervisor)
        .only("name", "hypervisor", "facts")
        .order_by("name")
    )
    if not nodes or any(node_enforces_disk_size(node) for node in nodes):
        return ""
    pools = "; ".join(
        f"{node.name}: {(node.facts or {}).get('lxd_storage_driver') or 'unknown'}"
        for node in nodes
    )
    return (
        f"No node of cluster {cluster} can hold a container to the plan's disk size: their "
        f"LXD storage pools ({pools}) do not enforce sizes; "
        f"one of {', '.join(sorted(SIZE_ENFORCING_DRIVERS))} is needed."
    )


@transaction.atomic
def vm_place(vm: VirtualMachine) -> VirtualMachine:
    """Choose the ready node with the most free memory that fits the plan; name the vnet.

    A VM with an image goes to a node of the image's hypervisor; one without an image can
    only run on lab (netns) nodes, which boot nothing. Only nodes that hold a guest to its
    plan's disk size are chosen (`node_enforces_disk_size`). Node rows are locked while
    choosing, so concurrent placements see each other.

    Raises:
        NoCapacity: no node fits.
    """
    vm = VirtualMachine.objects.select_for_update().select_related("plan").get(pk=vm.pk)
    if vm.node_id:
        return vm
    plan = vm.plan
    wanted = vm.image.hypervisor if vm.image is not None else Node.Hypervisor.NETNS
    hypervisors = [h for h in HYPERVISORS_FOR_KIND[plan.kind] if h == wanted]
    nodes = list(
        Node.objects.select_for_update()
        .filter(
            cluster_id=vm.cluster_id,
            state=Node.State.READY,
            hypervisor__in=hypervisors,
        )
        .order_by("pk")
    )
    unenforced = [node.name for node in nodes if not node_enforces_disk_size(node)]
    nodes = [node for node in nodes if node_enforces_disk_size(node)]
    usage = {
        row["node_id"]: row
        for row in VirtualMachine.objects.filter(node__in=nodes, state__in=ACTIVE_VM_STATES)
        .values("node_id")
        .annotate(
            vcpus=Sum("plan__vcpus"), memory=Sum("plan__memory_mb"), disk=Sum("plan__disk_gb")
        )
    }
    best, best_free = None, -1
    for node in nodes:
        used = usage.get(node.pk, {"vcpus": 0, "memory": 0, "disk": 0})
        fits = (
            used["vcpus"] + plan.vcpus <= node.vcpus * settings.FABRIC_CPU_OVERCOMMIT
            and used["memory"] + plan.memory_mb <= node.memory_mb
            and used["disk"] + plan.disk_gb <= node.disk_gb
        )
        free = node.memory_mb - used["memory"]
        if fits and free > best_free:
            best, best_free = node, free
    if best is None:
        image = f"image {vm.image}" if vm.image else "no image (lab nodes only)"
        skipped = (
            f" ({', '.join(unenforced)}: storage pool does not enforce disk sizes)"
            if unenforced
            else ""
        )
        raise NoCapacity(
            f"no ready {'/'.join(hypervisors) or 'suitable'} node of cluster {vm.cluster_id} "
            f"has room for plan {plan} with {image}{skipped}"
        )
    vm.node = best
    vm.vnet_name = f"vnet{vm.pk}"
    vm.mac_address = guest_mac(vm.pk)
    vm.save(update_fields=["node", "vnet_name", "mac_address"])
    return vm


def guest_mac(vm_pk: int) -> str:
    """A locally administered unicast MAC derived from the VM's id (unique, stable)."""
    value = vm_pk & 0xFFFFFFFF
    return "02:fa:" + ":".join(f"{(value >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))


# --- plans and API writes ---------------------------------------------------------------------


def plan_create(**fields) -> Plan:
    return instance_create(Plan, **fields)


def plan_update(plan: Plan, **fields) -> Plan:
    return instance_update(plan, **fields)


def plan_delete(plan: Plan) -> None:
    """Delete a plan no VM was ever built from (ProtectedError otherwise: deactivate it)."""
    instance_delete(plan)


def vm_update(vm: VirtualMachine, *, description: str) -> VirtualMachine:
    """Change what may change on an existing VM: its description."""
    return instance_update(vm, description=description)


class QuotaExceeded(Refused):
    """The tenant has as many VMs as its quota allows."""

    code, field = "quota_exceeded", "tenant"


class IdempotencyKeyReused(Refused):
    """An Idempotency-Key sent again with a different request."""

    status_code, code, field = 422, "idempotency_key_reused", "Idempotency-Key"


@transaction.atomic
def vm_order_idempotent(
    *, principal: str, key: str, request_hash: str, **order
) -> tuple[IdempotencyKey, bool]:
    """`vm_order` at most once per (principal, key): returns (record, created).

    The record is claimed first, in the order's transaction: a concurrent request with the
    same key waits on the unique constraint until this one commits, then finds the record
    (created False) with the VM and the response the caller stored with
    `idempotency_remember`. A failed order rolls the claim back, so the key can be retried.

    Raises:
        IdempotencyKeyReused: the key was used for a different request.
        QuotaExceeded, ValidationError, PoolExhausted: as `vm_order`.
    """
    record, created = IdempotencyKey.objects.get_or_create(
        principal=principal, key=key, defaults={"request_hash": request_hash}
    )
    if not created:
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request."
            )
        return record, False
    record.vm = vm_order_checked(**order)
    record.save(update_fields=["vm"])
    return record, True


def idempotency_remember(*, record: IdempotencyKey, status: int, body) -> None:
    """Store the response given for the record's first request, to answer retries with."""
    record.response_status, record.response_body = status, body
    record.save(update_fields=["response_status", "response_body"])


def idempotency_keys_purge(*, older_than_hours: float | None = None) -> int:
    """Delete the Idempotency-Key records older than the retention (the VMs stay); a key
    sent again after that is a new order. Returns how many were deleted."""
    hours = settings.FABRIC_IDEMPOTENCY_KEY_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyKey.objects.filter(created__lt=cutoff).delete()
    return deleted


def vm_order_checked(**order) -> VirtualMachine:
    """`vm_order`, telling a reached quota (QuotaExceeded) from other invalid orders."""
    tenant = order["tenant"]
    try:
        with transaction.atomic():
            return vm_order(**order)
    except ValidationError as exc:
        errors = getattr(exc, "error_dict", {})
        if set(errors) == {"tenant"}:
            active = tenant.virtual_machines.exclude(state=VirtualMachine.State.DELETED).count()
            tenant.refresh_from_db(fields=["max_vms", "is_active"])
            if tenant.is_active and active >= tenant.max_vms:
                raise QuotaExceeded(exc.messages[0]) from exc
        raise
