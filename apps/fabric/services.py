"""Writes for the fabric: create devices and start the workflows that configure them."""

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.services import instance_create, instance_delete, instance_update
from apps.fabric.models import BgpSessionState, BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import ready_route_reflectors
from apps.jobs.models import Job
from apps.jobs.selectors import jobs_for, jobs_targeting
from apps.jobs.services import job_start


def _save(instance):
    instance.full_clean()
    instance.save()
    return instance


def _lock_cluster(cluster_id: int) -> None:
    """Take the cluster's row lock: the checks below and the job they start are atomic."""
    Cluster.objects.select_for_update().filter(pk=cluster_id).first()


def _job_in_progress(*queries) -> Job | None:
    for query in queries:
        job = query.filter(state__in=Job.ACTIVE_STATES).order_by("pk").first()
        if job:
            return job
    return None


def _refuse_while(job: Job | None, field: str, what: str) -> None:
    if job:
        raise ValidationError({field: (
            f"{what} must wait: job #{job.pk} ({job.get_kind_display().lower()}) is "
            f"{job.state}. Try again when it has finished."
        )})  # fmt: skip


@transaction.atomic
def cluster_provision_start(*, cluster: Cluster, created_by=None) -> Job:
    """Configure every RR of the cluster, then its border gateway (commit confirmed);
    refused while a route reflector of the cluster is being removed."""
    if not cluster.route_reflectors.exists():
        raise ValidationError({"route_reflectors": "Add at least one route reflector first."})
    _lock_cluster(cluster.pk)
    removal = jobs_targeting(RouteReflector, cluster.route_reflectors.values("pk")).filter(
        kind="route_reflector_remove"
    )
    _refuse_while(_job_in_progress(removal), "route_reflectors", "Provisioning")
    cluster.state = Cluster.State.PROVISIONING
    cluster.save(update_fields=["state"])  # a save, not an update(): the change log sees it
    return job_start(kind="cluster_provision", target=cluster, created_by=created_by)


@transaction.atomic
def border_gateway_sync_start(*, border_gateway: BorderGateway, created_by=None) -> Job:
    return job_start(kind="border_gateway_sync", target=border_gateway, created_by=created_by)


@transaction.atomic
def border_gateway_preview_start(*, border_gateway: BorderGateway, created_by=None) -> Job:
    """Queue a dry run whose `bgw_compare` step holds the pending `show | compare`."""
    return job_start(kind="border_gateway_preview", target=border_gateway, created_by=created_by)


@transaction.atomic
def node_create(*, created_by=None, **fields) -> Node:
    """Record a node and queue `node_add` (prepare, BIRD, every RR, verify)."""
    node = _save(Node(**fields))
    job_start(kind="node_add", target=node, created_by=created_by)
    return node


NODE_JOBS = ("node_add", "node_remove")
NODE_ADD_AGAIN_STATES = (Node.State.NEW, Node.State.PROVISIONING, Node.State.FAILED)


@transaction.atomic
def node_add_start(*, node: Node, created_by=None) -> Job:
    """Queue `node_add` again for a node that is not in service (its last add failed);
    refused while another add or a removal of it is queued or running, and for a node
    in service, draining or being removed (an add would put it back to `ready`)."""
    node = Node.objects.select_for_update().get(pk=node.pk)
    _refuse_while(_job_in_progress(jobs_for(node).filter(kind__in=NODE_JOBS)), "node",
                  f"Adding node {node}")  # fmt: skip
    if node.state not in NODE_ADD_AGAIN_STATES:
        raise ValidationError({"state": (
            f"Node {node} is {node.get_state_display().lower()}: only a new or failed node "
            "is added again."
        )})  # fmt: skip
    return job_start(kind="node_add", target=node, created_by=created_by)


@transaction.atomic
def node_remove_start(*, node: Node, created_by=None) -> Job:
    """Queue `node_remove`; refused while the node still has VMs."""
    remaining = node.virtual_machines.exclude(state="deleted").count()
    if remaining:
        raise ValidationError(
            {"node": f"Node {node} still has {remaining} VM(s); delete or move them first."}
        )
    return job_start(kind="node_remove", target=node, created_by=created_by)


@transaction.atomic
def node_drain(node: Node) -> Node:
    """Stop placing new VMs on a ready node; its VMs keep running and stay routed."""
    return _node_transition(node, Node.State.READY, Node.State.DRAINING, "drain")


@transaction.atomic
def node_undrain(node: Node) -> Node:
    """Put a draining node back into service: new VMs may be placed on it again."""
    return _node_transition(node, Node.State.DRAINING, Node.State.READY, "return to service")


def _node_transition(node: Node, expected: str, new: str, action: str) -> Node:
    locked = Node.objects.select_for_update().get(pk=node.pk)
    if locked.state != expected:
        raise ValidationError({"state": (
            f"Node {locked} is {locked.get_state_display().lower()}: only a "
            f"{Node.State(expected).label.lower()} node can {action}."
        )})  # fmt: skip
    locked.state = new
    locked.save(update_fields=["state"])  # a save, not an update(): the change log sees it
    node.state = new
    return node


@transaction.atomic
def route_reflector_remove_start(*, rr: RouteReflector, created_by=None) -> Job:
    """Queue `route_reflector_remove`; refused for the cluster's last ready RR and while
    the cluster's provisioning, a node being added or another removal is in progress.

    The RR leaves the nodes' and the border gateway's configs at once (state `removing`);
    the cluster row lock makes concurrent removals and provisionings take turns.
    """
    _lock_cluster(rr.cluster_id)
    rr.refresh_from_db()
    cluster = rr.cluster
    busy = _job_in_progress(
        jobs_for(rr).filter(kind="route_reflector_remove"),
        jobs_for(cluster).filter(kind="cluster_provision"),
        jobs_targeting(Node, cluster.nodes.values("pk")).filter(kind="node_add"),
    )
    _refuse_while(busy, "route_reflector", f"Removing {rr.name}")
    if not ready_route_reflectors(cluster).exclude(pk=rr.pk).exists():
        raise ValidationError({"route_reflector": (
            f"{rr.name} is the last ready route reflector of cluster {cluster}: "
            "add and provision another one before removing it."
        )})  # fmt: skip
    rr.state = RouteReflector.State.REMOVING
    rr.save(update_fields=["state"])  # a save, not an update(): the change log sees it
    return job_start(kind="route_reflector_remove", target=rr, created_by=created_by)


@transaction.atomic
def route_reflector_create(*, created_by=None, **fields) -> RouteReflector:
    """Record an RR; its config is applied by the next cluster provisioning."""
    return _save(RouteReflector(**fields))


# --- plain records (validated with full_clean) -------------------------------------------------


def cluster_create(**fields) -> Cluster:
    return instance_create(Cluster, **fields)


def cluster_update(cluster: Cluster, **fields) -> Cluster:
    """Change a cluster's record; devices follow at the next provisioning or reconcile."""
    return instance_update(cluster, **fields)


def cluster_delete(cluster: Cluster) -> None:
    """Delete an empty cluster (ProtectedError while it has nodes, RRs, networks or VMs)."""
    instance_delete(cluster)


def node_update(node: Node, **fields) -> Node:
    return instance_update(node, **fields)


def route_reflector_update(rr: RouteReflector, **fields) -> RouteReflector:
    return instance_update(rr, **fields)


def border_gateway_create(*, cluster: Cluster, peer_asn: int | None = None, **fields):
    """Record the cluster's border gateway; configured by `border_gateway_sync`. Without a
    peer AS it peers iBGP, in the cluster's AS (as the article and the wizard)."""
    peer_asn = cluster.bgp_asn if peer_asn is None else peer_asn
    return instance_create(BorderGateway, cluster=cluster, peer_asn=peer_asn, **fields)


def border_gateway_update(border_gateway: BorderGateway, **fields) -> BorderGateway:
    return instance_update(border_gateway, **fields)


# What a job that is under way says on each kind of device it works on.
IN_PROGRESS_STATES = {
    Cluster: Cluster.State.PROVISIONING,
    RouteReflector: RouteReflector.State.PROVISIONING,
    Node: Node.State.PROVISIONING,
    BorderGateway: BorderGateway.State.SYNCING,
}


def devices_mark_failed(*devices: Cluster | RouteReflector | Node | BorderGateway) -> None:
    """After a job failed for good: each of `devices` it left in progress (provisioning,
    syncing) is `failed`, so no device says a job is working on it when none is. A device
    another job has moved on since (e.g. an RR now `removing`) is left as it is."""
    for device in devices:
        model = type(device)
        model.objects.filter(pk=device.pk, state=IN_PROGRESS_STATES[model]).update(
            state=model.State.FAILED
        )


def _device_field(device: RouteReflector | Node) -> dict:
    return {"route_reflector" if isinstance(device, RouteReflector) else "node": device}


@transaction.atomic
def bgp_sessions_record(*, device: RouteReflector | Node, sessions: dict, seen_at) -> None:
    """Store what `birdc show protocols all` showed on `device` at `seen_at` (`sessions`:
    protocol → workers.bird.BgpSession): one row per session, fresh; sessions it no longer
    has are forgotten."""
    owner = _device_field(device)
    BgpSessionState.objects.filter(**owner).exclude(protocol__in=list(sessions)).delete()
    for name, session in sessions.items():
        BgpSessionState.objects.update_or_create(
            **owner,
            protocol=name,
            defaults={
                "peer_address": session.neighbor or None,
                "state": session.state[:32],
                "info": session.info[:200],
                "routes_imported": session.routes_imported,
                "routes_exported": session.routes_exported,
                "seen_at": seen_at,
                "stale": False,
                "stale_reason": "",
            },
        )


def bgp_sessions_mark_stale(*, device: RouteReflector | Node, reason: str) -> int:
    """`device` did not answer: its sessions keep their last state and time, marked stale."""
    return BgpSessionState.objects.filter(**_device_field(device)).update(
        stale=True, stale_reason=reason[:300]
    )
