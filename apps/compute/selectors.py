"""Reads for compute: VMs with what their lists show, and the jobs that work on a VM."""

from django.db.models import Prefetch, QuerySet

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress
from apps.jobs.models import Job
from apps.jobs.selectors import last_job_for


def vm_list() -> QuerySet[VirtualMachine]:
    """VMs with plan and addresses loaded: a page of them costs a fixed number of queries."""
    return VirtualMachine.objects.select_related("plan").prefetch_related(
        Prefetch(
            "ip_addresses",
            queryset=IPAddress.objects.order_by("family", "key").only(
                "id", "vm_id", "address", "family"
            ),
        )
    )


def vm_last_job(vm: VirtualMachine) -> Job | None:
    return last_job_for(vm)
