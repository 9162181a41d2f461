"""Reads for the portal pages: each returns what one page shows in a fixed number of queries."""

import re
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

from apps.compute.models import VirtualMachine
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import active_route_reflectors
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
    """A node's BGP session with one route reflector, as its last check saw it."""

    route_reflector: RouteReflector
    protocol: str
    state: str  # established, down, unknown
    detail: str


_MISSING = re.compile(r"(rr_\d+): ([^;\n]*)")


def node_sessions(node: Node) -> tuple[list[SessionState], JobStep | None]:
    """The node's BGP sessions per RR, from its last `node_verify_sessions` step.

    The step succeeds when every session is Established, and when it fails its error
    lists the sessions that were not (`rr_3: Active; rr_4: absent`).
    """
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
    missing = dict(_MISSING.findall(step.output)) if step else {}
    sessions = []
    for rr in active_route_reflectors(node.cluster):
        protocol = f"rr_{rr.pk}"
        if step is None:
            state, detail = "unknown", "not checked yet"
        elif step.state == JobStep.State.SUCCEEDED or protocol not in missing:
            state, detail = "established", "Established"
        else:
            state, detail = "down", missing[protocol].strip() or "not Established"
        if step is not None and step.state == JobStep.State.FAILED and not missing:
            state, detail = "unknown", "the check failed before listing sessions"
        sessions.append(SessionState(rr, protocol, state, detail))
    return sessions, step


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


def dry_run_found_no_difference(job: Job | None, desired: str) -> bool:
    """Whether the border gateway dry run `job` found the router already holding `desired`
    (the configuration rendered now): it succeeded, rendered exactly that, and its compare
    step was skipped for want of a difference. A dry run of an older rendering says
    nothing about this one."""
    if job is None or job.state != Job.State.SUCCEEDED:
        return False
    wanted = job.steps.filter(name__in=("bgw_render", "bgw_compare")).order_by("attempt")
    steps = {step.name: step for step in wanted}  # the last attempt's
    render, compare = steps.get("bgw_render"), steps.get("bgw_compare")
    return (
        render is not None
        and compare is not None
        and compare.state == JobStep.State.SKIPPED
        and render.output.rstrip("\n") == desired.rstrip("\n")
    )
