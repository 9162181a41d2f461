"""Reads for compute: VMs with what their lists show."""

from django.db.models import Prefetch, QuerySet

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress


def vm_list(vms: QuerySet[VirtualMachine] | None = None) -> QuerySet[VirtualMachine]:
    """`vms` (default: every VM) with tenant, cluster, node, plan and addresses loaded: a
    page of them costs a fixed number of queries (the API's lists and the portal's)."""
    vms = VirtualMachine.objects.all() if vms is None else vms
    return vms.select_related("tenant", "cluster", "node", "plan").prefetch_related(
        Prefetch(
            "ip_addresses",
            queryset=IPAddress.objects.order_by("family", "key").only(
                "id", "vm_id", "address", "family"
            ),
        )
    )
