"""The dashboard's first-run checklist: what a fresh install still needs before a tenant can
order, each step with the page that does it. Reads only."""

from dataclasses import dataclass

from django.urls import reverse

from apps.compute.models import Plan
from apps.fabric.models import Cluster, Node
from apps.tenancy.models import ApiKey, Membership, Tenant


@dataclass(frozen=True)
class SetupStep:
    """One step: done or not; what to do (`action`, a link to `url`) or why not yet (`hint`)."""

    key: str
    title: str
    done: bool
    action: str = ""
    url: str = ""
    hint: str = ""


def first_run_steps() -> list[SetupStep]:
    """Cluster → ready node → plan → tenant → a way in for the tenant (member or API key)."""
    cluster = Cluster.objects.order_by("created", "pk").first()
    nodes = Node.objects.all()
    node_ready = nodes.filter(state=Node.State.READY).exists()
    tenant = Tenant.objects.order_by("created", "pk").first()
    tenant_access = (
        Membership.objects.filter(tenant__isnull=False).exists()
        or ApiKey.objects.filter(tenant__isnull=False, revoked_at__isnull=True).exists()
    )
    steps = [
        SetupStep(
            key="cluster",
            title="Create a cluster",
            done=cluster is not None,
            action="Create a cluster",
            url=reverse("portal:cluster_wizard", args=["bgp"]),
            hint="Its BGP settings, border gateway, first route reflector and public networks.",
        ),
        node_step(cluster, node_ready, nodes.exists()),
        SetupStep(
            key="plan",
            title="Create a plan",
            done=Plan.objects.exists(),
            action="Create a plan",
            url=reverse("portal:plan_create"),
            hint="The sizes tenants order (vCPUs, RAM, disk).",
        ),
        SetupStep(
            key="tenant",
            title="Create a tenant",
            done=tenant is not None,
            action="Create a tenant",
            url=reverse("portal:tenant_create"),
            hint="A customer, with its quota of VMs.",
        ),
        SetupStep(
            key="access",
            title="Let the tenant in",
            done=tenant_access,
            action="Add a member" if tenant else "",
            url=reverse("portal:membership_create") + f"?tenant={tenant.pk}" if tenant else "",
            hint=(
                "Add a tenant user who logs in here, or make an API key for its billing system."
                if tenant
                else "Once there is a tenant: a user who logs in, or an API key."
            ),
        ),
    ]
    return steps


def node_step(cluster: Cluster | None, node_ready: bool, any_node: bool) -> SetupStep:
    if cluster is None:
        return SetupStep(
            key="node",
            title="Add a node",
            done=False,
            hint="Once there is a cluster: a hypervisor that routes its VMs' addresses.",
        )
    if any_node and not node_ready:
        return SetupStep(
            key="node",
            title="Add a node",
            done=False,
            action="See the nodes",
            url=reverse("portal:nodes"),
            hint="No node is ready yet: one is being added, or its job failed.",
        )
    return SetupStep(
        key="node",
        title="Add a node",
        done=node_ready,
        action="Add a node",
        url=reverse("portal:node_create", args=[cluster.pk]),
        hint="A hypervisor that routes its VMs' addresses (it must become ready).",
    )


def setup_pending(steps: list[SetupStep]) -> bool:
    return not all(step.done for step in steps)
