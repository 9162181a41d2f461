"""Reads for the portal pages: each returns what one page shows in a fixed number of queries."""

from dataclasses import dataclass

import netaddr
from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.urls import reverse

from apps.compute.models import VirtualMachine
from apps.fabric.models import BgpSessionState, BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import active_route_reflectors, junos_config_digest, rr_peer
from apps.ipam.models import IPPool
from apps.ipam.selectors import pool_list
from apps.jobs.models import Job, JobStep

# --- IP pools ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolUsage:
    pool: IPPool
    used: int
    size: int

    @property
    def free(self) -> int:
        return max(self.size - self.used, 0)

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.size)) if self.size else 100


def usable_size(pool: IPPool) -> int:
    """Addresses the pool can hand out: its range less the excluded ones."""
    try:
        excluded = pool.excluded_set() & netaddr.IPSet(netaddr.IPRange(pool.first, pool.last))
    except ValueError:
        excluded = netaddr.IPSet()
    return pool.size - excluded.size


def pool_usage(cluster: Cluster | None = None) -> list[PoolUsage]:
    """Every pool (of `cluster`) with its addresses in use (allocated, reserved, quarantined)."""
    pools = pool_list()
    if cluster is not None:
        pools = pools.filter(network__cluster=cluster)
    pools = pools.order_by("network__cluster__name", "network__family", "network__prefix", "name")
    return [PoolUsage(pool=p, used=p.used, size=usable_size(p)) for p in pools]


# --- dashboard ---------------------------------------------------------------------------------


def count_of(queryset: QuerySet, field: str):
    """A subquery counting the rows of `queryset` whose `field` is the outer row."""
    counted = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def clusters_overview() -> QuerySet[Cluster]:
    """Clusters with their RRs, border gateway and counts of nodes and VMs.

    The counts are subqueries: joining nodes and VMs at once would multiply the rows.
    """
    active_vms = VirtualMachine.objects.exclude(state=VirtualMachine.State.DELETED)
    return (
        Cluster.objects.select_related("border_gateway")
        .prefetch_related(Prefetch("route_reflectors", RouteReflector.objects.order_by("name")))
        .annotate(
            nodes_total=count_of(Node.objects.all(), "cluster"),
            nodes_ready=count_of(Node.objects.filter(state=Node.State.READY), "cluster"),
            vm_count=count_of(active_vms, "cluster"),
        )
        .order_by("name")
    )


def with_node_hypervisors(clusters) -> list[Cluster]:
    """`clusters` with `node_hypervisors`: the labels of the hypervisors their nodes run
    (what the cluster really runs, e.g. the lab's network namespaces; empty without a
    node). One query for them all."""
    clusters = list(clusters)
    pairs = (
        Node.objects.filter(cluster__in=clusters)
        .order_by("hypervisor")
        .values_list("cluster_id", "hypervisor")
        .distinct()
    )
    labels = dict(Node.Hypervisor.choices)
    found: dict[int, list[str]] = {}
    for cluster_id, hypervisor in pairs:
        found.setdefault(cluster_id, []).append(labels.get(hypervisor, hypervisor))
    for cluster in clusters:
        cluster.node_hypervisors = found.get(cluster.pk, [])
    return clusters


def active_job_count() -> int:
    """How many jobs are queued or running (every tenant's: for staff)."""
    return Job.objects.filter(state__in=Job.ACTIVE_STATES).count()


def vm_state_counts(vms: QuerySet[VirtualMachine]) -> list[tuple[str, str, int]]:
    """(state, label, count) for every state, in the state machine's order."""
    counts = dict(vms.order_by().values_list("state").annotate(n=Count("id")))
    return [(s.value, s.label, counts.get(s.value, 0)) for s in VirtualMachine.State]


def devices_needing_attention(limit: int = 50) -> list:
    """Nodes and RRs that are not ready, worst first."""
    nodes = Node.objects.select_related("cluster").exclude(state=Node.State.READY)
    rrs = RouteReflector.objects.select_related("cluster").exclude(state=RouteReflector.State.READY)
    devices = [*nodes.order_by("cluster__name", "name")[:limit], *rrs[:limit]]
    return sorted(devices, key=lambda d: (d.state != "failed", d.cluster.name, d.name))[:limit]


def failed_jobs_needing_attention(limit: int = 10) -> QuerySet[Job]:
    """Failed jobs nobody acknowledged with no later successful job of the same kind on the
    same target."""
    fixed_later = Job.objects.filter(
        kind=OuterRef("kind"),
        target_type=OuterRef("target_type"),
        target_id=OuterRef("target_id"),
        state=Job.State.SUCCEEDED,
        created__gt=OuterRef("created"),
    )
    return (
        Job.objects.filter(state=Job.State.FAILED, acknowledged__isnull=True)
        .exclude(Exists(fixed_later))
        .select_related("target_type", "tenant")
        .order_by("-created", "-id")[:limit]
    )


# --- lists -------------------------------------------------------------------------------------


def node_list(nodes: QuerySet[Node]) -> QuerySet[Node]:
    """Nodes with their cluster and their count of VMs not deleted."""
    active = ~Q(virtual_machines__state=VirtualMachine.State.DELETED)
    return nodes.select_related("cluster").annotate(
        vm_count=Count("virtual_machines", filter=active)
    )


# --- jobs of one object --------------------------------------------------------------------------


def last_node_apply_step(node: Node) -> JobStep | None:
    """The node's last `node_apply_bird` step: of its own jobs or of its VMs' jobs."""
    node_type = ContentType.objects.get_for_model(Node)
    vm_type = ContentType.objects.get_for_model(VirtualMachine)
    vm_ids = VirtualMachine.objects.filter(node=node).values("pk")
    return (
        JobStep.objects.filter(name="node_apply_bird")
        .filter(
            Q(job__target_type=node_type, job__target_id=node.pk)
            | Q(job__target_type=vm_type, job__target_id__in=vm_ids)
        )
        .select_related("job")
        .order_by("-started", "-id")
        .first()
    )


@dataclass(frozen=True)
class SessionState:
    """A node's BGP session with one route reflector: as the periodic collection last saw
    it (`collected`), else as the node's last session check recorded it."""

    route_reflector: RouteReflector
    protocol: str
    state: str  # established, down, unknown
    detail: str
    collected: BgpSessionState | None = None


def node_sessions(node: Node) -> tuple[list[SessionState], JobStep | None]:
    """The node's BGP sessions per RR: the collected state (BgpSessionState) where there is
    one, else what its last `node_verify_sessions` step recorded in its data (`sessions`:
    protocol, route reflector, established, BIRD's info)."""
    collected = {row.protocol: row for row in BgpSessionState.objects.filter(node=node)}
    node_type = ContentType.objects.get_for_model(Node)
    step = (
        JobStep.objects.filter(
            name="node_verify_sessions", job__target_type=node_type, job__target_id=node.pk
        )
        .exclude(state=JobStep.State.RUNNING)
        .select_related("job")
        .order_by("-started", "-id")
        .first()
    )
    seen = {s.get("route_reflector"): s for s in (step.data.get("sessions", []) if step else [])}
    sessions = []
    for rr in active_route_reflectors(node.cluster):
        protocol = rr_peer(rr).protocol
        if row := collected.get(protocol):
            state = "established" if row.established else "down"
            sessions.append(SessionState(rr, protocol, state, row.info or row.state, row))
            continue
        if step is None:
            state, detail = "unknown", "not checked yet"
        elif rr.pk not in seen:
            state, detail = "unknown", "not seen by that check"
        elif seen[rr.pk].get("established"):
            state, detail = "established", seen[rr.pk].get("info") or "Established"
        else:
            state, detail = "down", seen[rr.pk].get("info") or "not Established"
        sessions.append(SessionState(rr, protocol, state, detail))
    return sessions, step


@dataclass(frozen=True)
class PeerSession:
    """A session of a route reflector as collected, with the device at its other end."""

    row: BgpSessionState
    peer: Node | BorderGateway | None

    @property
    def peer_url(self) -> str:
        if isinstance(self.peer, Node):
            return reverse("portal:node", args=[self.peer.pk])
        return reverse("portal:bgw", args=[self.peer.pk]) if self.peer else ""


def route_reflector_sessions(rr: RouteReflector) -> list[PeerSession]:
    """The RR's BGP sessions as the periodic collection last saw them, each with its peer
    (a node or the border gateway of the cluster, found by its address)."""
    rows = list(BgpSessionState.objects.filter(route_reflector=rr).order_by("protocol"))
    addresses = {row.peer_address for row in rows if row.peer_address}
    peers = {n.underlay_ip: n for n in Node.objects.filter(cluster_id=rr.cluster_id,
                                                           underlay_ip__in=addresses)}  # fmt: skip
    peers.update({b.peering_ip: b for b in BorderGateway.objects.filter(
        cluster_id=rr.cluster_id, peering_ip__in=addresses)})  # fmt: skip
    return [PeerSession(row, peers.get(row.peer_address)) for row in rows]


def route_reflector_applies(rr: RouteReflector, limit: int = 5) -> list[JobStep]:
    """The RR's last `rr_apply_config` steps (whichever job ran them), newest first."""
    return list(
        JobStep.objects.filter(name="rr_apply_config", data__route_reflector=rr.pk)
        .select_related("job")
        .order_by("-started", "-id")[:limit]
    )


def border_gateway_history(bgw: BorderGateway) -> list[tuple[Job, list[JobStep]]]:
    """The border gateway's jobs (provisioning, syncs, dry runs) with their `bgw_*` steps."""
    bgw_type = ContentType.objects.get_for_model(BorderGateway)
    cluster_type = ContentType.objects.get_for_model(Cluster)
    jobs = list(
        Job.objects.filter(
            Q(target_type=bgw_type, target_id=bgw.pk)
            | Q(target_type=cluster_type, target_id=bgw.cluster_id, kind="cluster_provision")
        )
        .prefetch_related(
            Prefetch(
                "steps",
                JobStep.objects.filter(name__startswith="bgw_").order_by("attempt", "position"),
            )
        )
        .order_by("-created", "-id")[:20]
    )
    return [(job, list(job.steps.all())) for job in jobs]


def step_output(job: Job | None, name: str) -> JobStep | None:
    if job is None:
        return None
    return job.steps.filter(name=name).order_by("-attempt", "-position").first()


def dry_run_found_no_difference(job: Job | None, compare: JobStep | None, desired) -> bool:
    """Whether the border gateway dry run `job` (its `bgw_compare` step) found the router
    already holding `desired`, the set lines rendered now: it succeeded, compared exactly
    these lines and recorded no difference. A dry run of another rendering (a change
    since) says nothing about this one."""
    if job is None or compare is None or job.state != Job.State.SUCCEEDED:
        return False
    data = compare.data or {}
    return data.get("diff") == "" and data.get("config_sha256") == junos_config_digest(desired)
