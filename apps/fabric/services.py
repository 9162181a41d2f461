"""Writes for the fabric: create devices and start the workflows that configure them."""

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.jobs.models import Job
from apps.jobs.services import job_start


def _save(instance):
    instance.full_clean()
    instance.save()
    return instance


@transaction.atomic
def cluster_provision_start(*, cluster: Cluster, created_by=None) -> Job:
    """Configure every RR of the cluster, then its border gateway (commit confirmed)."""
    if not cluster.route_reflectors.exists():
        raise ValidationError({"route_reflectors": "Add at least one route reflector first."})
    Cluster.objects.filter(pk=cluster.pk).update(state=Cluster.State.PROVISIONING)
    return job_start(kind=Job.Kind.CLUSTER_PROVISION, target=cluster, created_by=created_by)


@transaction.atomic
def border_gateway_sync_start(*, border_gateway: BorderGateway, created_by=None) -> Job:
    return job_start(
        kind=Job.Kind.BORDER_GATEWAY_SYNC, target=border_gateway, created_by=created_by
    )


@transaction.atomic
def node_create(*, created_by=None, **fields) -> Node:
    """Record a node and queue `node_add` (prepare, BIRD, every RR, verify)."""
    node = _save(Node(**fields))
    job_start(kind=Job.Kind.NODE_ADD, target=node, created_by=created_by)
    return node


@transaction.atomic
def node_remove_start(*, node: Node, created_by=None) -> Job:
    """Queue `node_remove`; refused while the node still has VMs."""
    remaining = node.virtual_machines.exclude(state="deleted").count()
    if remaining:
        raise ValidationError(
            {"node": f"Node {node} still has {remaining} VM(s); delete or move them first."}
        )
    return job_start(kind=Job.Kind.NODE_REMOVE, target=node, created_by=created_by)


@transaction.atomic
def route_reflector_create(*, created_by=None, **fields) -> RouteReflector:
    """Record an RR; its config is applied by the next cluster provisioning."""
    return _save(RouteReflector(**fields))
