"""Writes for VMs: ordering and state changes."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.compute.models import Plan, VirtualMachine
from apps.fabric.models import Cluster
from apps.tenancy.models import Tenant


class InvalidTransition(Exception):
    """A VM state change that the state machine does not allow."""


@transaction.atomic
def vm_order(
    *, tenant: Tenant, plan: Plan, cluster: Cluster, name: str, description: str = ""
) -> VirtualMachine:
    """Record an order for a VM; the `vm_create` workflow builds it.

    Raises:
        ValidationError: naming the field (name taken, inactive plan, quota reached...).
    """
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    errors = {}
    if not tenant.is_active:
        errors["tenant"] = "This tenant is suspended and cannot order."
    if not plan.is_active:
        errors["plan"] = f"Plan {plan} is no longer offered."
    if cluster.state == Cluster.State.FAILED:
        errors["cluster"] = f"Cluster {cluster} is failed; choose another."
    active = tenant.virtual_machines.exclude(state=VirtualMachine.State.DELETED).count()
    if active >= tenant.max_vms:
        errors["plan"] = f"Quota reached: {tenant.max_vms} VMs for tenant {tenant}."
    if errors:
        raise ValidationError(errors)
    vm = VirtualMachine(
        tenant=tenant, plan=plan, cluster=cluster, name=name, description=description
    )
    vm.full_clean()
    vm.save()
    return vm


def vm_set_state(vm: VirtualMachine, state: str) -> VirtualMachine:
    """Move `vm` to `state` if the state machine allows it (staying put is allowed)."""
    if vm.state == state:
        return vm
    if not vm.can_transition_to(state):
        raise InvalidTransition(f"VM {vm} cannot go from {vm.state} to {state}.")
    vm.state = state
    vm.state_changed = timezone.now()
    vm.save(update_fields=["state", "state_changed"])
    return vm
