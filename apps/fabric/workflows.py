"""Fabric workflows: converge nodes and route reflectors to the database's desired state.

Each function is the body of one Job (see apps/jobs/runner.py): it records its steps and
is safe to run again after a crash or a retry.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.conf import settings

from apps.fabric.connections import bird_paths, connect, open_session, remember_first_host_key
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import (
    ANNOUNCED_VM_STATES,
    active_route_reflectors,
    border_gateway_config,
    junos_config_digest,
    node_bird_config,
    node_firewall_config,
    route_reflector_bird_config,
    rr_peer,
    serving_nodes,
)
from apps.fabric.services import (
    border_gateway_claim_router_objects,
    border_gateway_preview_start,
    border_gateway_set_state,
    border_gateway_sync_start,
    cluster_provision_start,
    cluster_set_state,
    devices_mark_failed,
    node_add_start,
    node_forget,
    node_record_facts,
    node_remove_start,
    node_set_state,
    route_reflector_remove_start,
    route_reflector_set_state,
)
from apps.ipam.models import IPAddress
from apps.jobs.locks import device_lock
from apps.jobs.registry import workflow
from apps.jobs.runner import JobRun, StepLog
from workers import firewall, node_setup
from workers.bird_remote import ApplyResult, apply_config, show_protocols, stop_bird
from workers.errors import (
    DeviceError,
    HostKeyMismatch,
    HostKeyUnknown,
    JunosError,
    JunosVerifyFailed,
    NodeUnreachable,
)
from workers.junos import BgpGroupState, JunosSession, JunosTarget
from workers.polling import poll_until
from workers.render import (
    render_border_gateway_junos,
    render_node_bird,
    render_route_reflector_bird,
)
from workers.ssh import SSHSession


class SessionsNotEstablished(DeviceError):
    """BGP sessions did not reach Established in time; `status` is what BIRD showed last."""

    def __init__(self, message: str, status: dict | None = None):
        super().__init__(message)
        self.status = status or {}


def sessions_data(status: dict, peers: dict[str, dict]) -> list[dict]:
    """A step's record of BGP sessions: for each expected protocol (`peers`: protocol →
    what names its peer), whether `status` (`birdc show protocols`) has it Established."""
    return [
        {
            **peer,
            "protocol": protocol,
            "established": protocol in status and status[protocol].established,
            "info": status[protocol].info if protocol in status else "absent",
        }
        for protocol, peer in peers.items()
    ]


def log_apply(step: StepLog, result: ApplyResult) -> None:
    kept = [n for n, p in result.protocols_before.items() if p.established]
    step.record(changed=result.changed, started=result.started,
                adopted_backup=result.adopted_backup, established_before=sorted(kept),
                sessions_reset=result.sessions_reset)  # fmt: skip
    if not result.changed and not result.started:
        step.skip("bird.conf already up to date")
        return
    if result.adopted_backup:
        step.log(f"bird.conf was not the product's: adopted (a valid BIRD config), its copy "
                 f"kept as {result.adopted_backup}")  # fmt: skip
    step.log("bird.conf replaced" if result.changed else "bird.conf unchanged")
    if result.started:
        step.log("BIRD was not running: started")
    step.log(f"sessions established before: {len(kept)}; reset by this change: "
             f"{', '.join(result.sessions_reset) or 'none'}")  # fmt: skip


def apply_node_bird(run: JobRun, session: SSHSession, node: Node) -> None:
    with run.step("node_apply_bird") as step:
        step.record(node=node.pk)
        log_apply(
            step, apply_config(session, bird_paths(node), render_node_bird(node_bird_config(node)))
        )


def apply_node_firewall(session: SSHSession, node: Node) -> str:
    """Load the node's packet filter (checked by the node's `nft -c` first); what it did."""
    config = node_firewall_config(node)
    firewall.apply_ruleset(session, firewall.render_node_firewall(config))
    return (
        f"packet filter tables inet/arp {firewall.TABLE} loaded: {len(config.guests)} guest(s), "
        f"{len(config.protected_v4) + len(config.protected_v6)} protected prefix(es)"
    )


def apply_route_reflector(run: JobRun, rr: RouteReflector, *, prepare: bool = False) -> None:
    """Write the RR's bird.conf (and, when `prepare`, first make sure BIRD is there)."""
    with ExitStack() as stack:
        if prepare:
            with run.step("rr_prepare") as step:
                step.record(route_reflector=rr.pk)
                session = connect(stack, rr)
                facts = node_setup.gather_facts(session)
                step.log(f"{facts.get('os')}; {node_setup.ensure_bird(session, facts)}")
        with run.step("rr_apply_config") as step:
            step.record(route_reflector=rr.pk)
            step.log(f"route reflector {rr.name}")
            session = session if prepare else connect(stack, rr)
            config = render_route_reflector_bird(route_reflector_bird_config(rr))
            log_apply(step, apply_config(session, bird_paths(rr), config))


def wait_established(session: SSHSession, host, protocols: list[str], *, timeout: float) -> dict:
    """Poll `birdc show protocols` until every one of `protocols` is Established."""

    def missing(status: dict) -> list[str]:
        return [p for p in protocols if not (p in status and status[p].established)]

    def not_established(status: dict) -> SessionsNotEstablished:
        detail = "; ".join(
            f"{p}: {status[p].info if p in status else 'absent'}" for p in missing(status)
        )
        return SessionsNotEstablished(f"not Established after {timeout:g}s: {detail}", status)

    return poll_until(
        lambda: show_protocols(session, bird_paths(host)) or {},
        done=lambda status: not missing(status),
        timeout=timeout,
        interval=0.5,
        error=not_established,
    )


@workflow(
    "node_add",
    label="Add node",
    target="fabric.Node",
    restart=lambda node, by: node_add_start(node=node, created_by=by),
)
def node_add(run: JobRun) -> None:
    """Prepare the node, write its bird.conf, add it to every RR, verify its sessions."""
    node = Node.objects.select_related("cluster").get(pk=run.job.target_id)
    node_set_state(node, Node.State.PROVISIONING)
    try:
        with ExitStack() as stack:
            with run.step("node_connect") as step:
                step.record(node=node.pk)
                session = connect(stack, node)
                step.log(f"connected to {node.ssh_address}:{node.ssh_port}")
            with run.step("node_prepare") as step:
                facts = node_setup.gather_facts(session)
                facts["bird"] = node_setup.ensure_bird(session, facts)
                node_setup.apply_sysctls(session, persist=node.persist_host_config)
                facts.update(node_setup.ensure_hypervisor(session, hypervisor=node.hypervisor,
                             options=node.hypervisor_options, facts=facts,
                             disk_gb=node.disk_gb))  # fmt: skip
                facts["nft"] = node_setup.ensure_nftables(session, facts)
                facts["connected_prefixes"] = node_setup.connected_prefixes(session)
                node_record_facts(node, facts)
                step.log(f"{facts.get('os')}; kernel {facts.get('kernel')}; {facts['bird']}")
                step.log(apply_node_firewall(session, node))
            apply_node_bird(run, session, node)
        for rr in active_route_reflectors(node.cluster):
            apply_route_reflector(run, rr)
        with run.step("node_verify_sessions") as step, open_session(node) as session:
            peers = {rr_peer(rr).protocol: {"route_reflector": rr.pk}
                     for rr in active_route_reflectors(node.cluster)}  # fmt: skip
            try:
                status = wait_established(session, node, list(peers),
                                          timeout=settings.FABRIC_VERIFY_TIMEOUT)  # fmt: skip
            except SessionsNotEstablished as exc:
                step.record(sessions=sessions_data(exc.status, peers))
                raise
            step.record(sessions=sessions_data(status, peers))
            step.log(f"Established with {len(peers)} route reflector(s)")
    except Exception as exc:
        if not run.will_retry(exc):
            devices_mark_failed(node)
        raise
    node_set_state(node, Node.State.READY)


def apply_serving_nodes(run: JobRun, cluster: Cluster) -> None:
    """Rewrite the bird.conf of every serving node of the cluster (its RR list changed)."""
    for node in serving_nodes(cluster):
        with ExitStack() as stack:
            with run.step("node_connect") as step:
                step.record(node=node.pk)
                session = connect(stack, node)
                step.log(f"node {node.name}")
            apply_node_bird(run, session, node)


@workflow(
    "node_remove",
    label="Remove node",
    target="fabric.Node",
    restart=lambda node, by: node_remove_start(node=node, created_by=by),
)
def node_remove(run: JobRun) -> None:
    """Take the node out of every RR's config, then forget it."""
    node = Node.objects.select_related("cluster").get(pk=run.job.target_id)
    with run.step("check_empty"):
        remaining = node.virtual_machines.exclude(state="deleted").count()
        if remaining:
            raise DeviceError(f"node {node} still has {remaining} VM(s); delete or move them")
    node_set_state(node, Node.State.REMOVING)
    for rr in active_route_reflectors(node.cluster):
        apply_route_reflector(run, rr)
    with run.step("node_forget") as step:
        node_forget(node)
        step.log(f"node {node.name} removed")


def junos_target(bgw: BorderGateway) -> JunosTarget:
    return JunosTarget(
        host=bgw.mgmt_host,
        port=bgw.mgmt_port,
        username=bgw.username,
        password=bgw.password,
        private_key=bgw.ssh_private_key,
        timeout=settings.FABRIC_SSH_CONNECT_TIMEOUT * 3,
        known_host_key=bgw.ssh_host_key,
        host_key_policy=settings.FABRIC_SSH_HOST_KEY_POLICY,
        name=bgw.name,
    )


@contextmanager
def junos_session(bgw: BorderGateway) -> Iterator[JunosSession]:
    """A CLI session to the border gateway, checking its stored host key; under `tofu` the
    first key seen is stored and reported (as for nodes and RRs)."""
    with JunosSession(junos_target(bgw)) as junos:
        if not bgw.ssh_host_key and junos.first_seen_host_key:
            remember_first_host_key(bgw, "ssh_host_key", junos.first_seen_host_key)
        yield junos


def expected_prefix_count(cluster: Cluster) -> int:
    """VM addresses the border gateway should accept from each route reflector."""
    return IPAddress.objects.filter(
        vm__cluster=cluster, vm__state__in=ANNOUNCED_VM_STATES, vm__node__isnull=False
    ).count()


def wait_bgp_group(junos: JunosSession, bgw: BorderGateway, *, timeout: float) -> BgpGroupState:
    """Poll the group until every RR is Established and each sends the expected prefixes."""
    neighbors = set(active_route_reflectors(bgw.cluster).values_list("peering_ip", flat=True))
    expected = expected_prefix_count(bgw.cluster) * len(neighbors)

    def ok(state: BgpGroupState) -> bool:
        return (
            state.exists
            and set(state.peers) == neighbors
            and state.established == len(neighbors)
            and state.accepted_prefixes >= expected
        )

    def verify_failed(state: BgpGroupState) -> JunosVerifyFailed:
        return JunosVerifyFailed(
            f"group {bgw.bgp_group}: expected {len(neighbors)} Established peers "
            f"({', '.join(sorted(neighbors))}) and {expected} accepted prefixes; the router "
            f"shows {state.established}/{state.total_peers} Established, "
            f"{state.accepted_prefixes} accepted:\n{state.raw.strip()}"
        )

    return poll_until(
        lambda: junos.bgp_group(bgw.bgp_group),
        done=ok,
        timeout=timeout,
        interval=1,
        error=verify_failed,
    )


def sync_border_gateway(run: JobRun, bgw: BorderGateway) -> None:
    """bgw_render → bgw_load → bgw_commit_check → bgw_commit_confirmed → bgw_verify →
    bgw_confirm; a failed verification rolls back instead of confirming."""
    border_gateway_set_state(bgw, BorderGateway.State.SYNCING)
    cluster = bgw.cluster
    try:
        with run.step("bgw_render") as step:
            lines = render_border_gateway_junos(border_gateway_config(bgw))
            step.log("\n".join(lines))
        with ExitStack() as stack:
            with run.step("bgw_load") as step:
                stack.enter_context(device_lock("bgw", bgw.pk))
                junos = stack.enter_context(junos_session(bgw))
                refuse_foreign_objects(junos, bgw)
                loaded = junos.load(lines)
                diff, pending = loaded.diff, loaded.pending_confirm
                step.record(border_gateway=bgw.pk, diff=diff, pending_confirm=pending)
                step.log(diff or "no difference: the router already has this configuration")
                if pending:  # an earlier attempt died before confirming: finish its work
                    step.log("a commit confirmed from an earlier attempt is pending: "
                             "it is confirmed once the group is verified")  # fmt: skip
            if not diff:
                junos.discard()
            else:
                with run.step("bgw_commit_check") as step:
                    step.log(junos.commit_check().strip())
                with run.step("bgw_commit_confirmed") as step:
                    step.log(junos.commit_confirmed(cluster.commit_confirm_minutes).strip())
                    border_gateway_claim_router_objects(bgw)
            with run.step("bgw_verify") as step:
                try:
                    state = wait_bgp_group(junos, bgw, timeout=settings.FABRIC_VERIFY_TIMEOUT)
                except JunosVerifyFailed as exc:
                    if diff or pending:
                        step.log(_roll_back(junos, cluster.commit_confirm_minutes))
                    raise exc
                step.record(peers=state.peers, established=state.established,
                            total_peers=state.total_peers,
                            accepted_prefixes=state.accepted_prefixes)  # fmt: skip
                step.log(state.raw.strip())
            if diff or pending:
                with run.step("bgw_confirm") as step:
                    step.log(junos.confirm().strip())
    except Exception as exc:
        if not run.will_retry(exc):
            devices_mark_failed(bgw)
        raise
    border_gateway_set_state(bgw, BorderGateway.State.IN_SYNC)


def refuse_foreign_objects(junos: JunosSession, bgw: BorderGateway) -> None:
    """Before this cluster first writes to the router: its group and policies must not
    exist there yet, or a sync (which replaces them whole) would delete someone else's.

    Raises:
        JunosError: one of the names is configured on the router; nothing was loaded.
    """
    if bgw.router_objects_claimed:
        return
    paths = [
        f"protocols bgp group {bgw.bgp_group}",
        f"policy-options policy-statement {bgw.policy_name}",
        f"policy-options policy-statement {bgw.reject_policy_name}",
    ]
    found = [path for path in paths if junos.configured(path)]
    if found:
        raise JunosError(
            f"the router already has {'; '.join(found)}, not created by cluster "
            f"{bgw.cluster}: a sync would replace it. Give the border gateway other group "
            "and policy names (or remove them from the router by hand)."
        )


def _roll_back(junos: JunosSession, minutes: int) -> str:
    try:
        return f"verification failed: rolled back now (rollback 1 + commit)\n{junos.rollback()}"
    except Exception as exc:  # the router's own timer still undoes the commit
        return (
            f"verification failed; rollback 1 failed too ({exc}): the router rolls back by "
            f"itself when the {minutes}-minute commit confirmed expires"
        )


@workflow(
    "border_gateway_preview",
    label="Border gateway dry run",
    target="fabric.BorderGateway",
    restart=lambda bgw, by: border_gateway_preview_start(border_gateway=bgw, created_by=by),
)
def border_gateway_preview(run: JobRun) -> None:
    """A dry run: load the rendered lines, capture `show | compare`, then discard them."""
    bgw = BorderGateway.objects.select_related("cluster").get(pk=run.job.target_id)
    with run.step("bgw_render") as step:
        lines = render_border_gateway_junos(border_gateway_config(bgw))
        step.log("\n".join(lines))
    with ExitStack() as stack, run.step("bgw_compare") as step:
        stack.enter_context(device_lock("bgw", bgw.pk))
        junos = stack.enter_context(junos_session(bgw))
        refuse_foreign_objects(junos, bgw)
        diff = junos.load(lines).diff
        junos.discard()
        # what was compared, so the portal knows whether Apply has anything left to do
        step.record(border_gateway=bgw.pk, diff=diff, config_sha256=junos_config_digest(lines))
        step.log(diff or "no difference: the router already has this configuration")


@workflow(
    "border_gateway_sync",
    label="Border gateway sync",
    target="fabric.BorderGateway",
    restart=lambda bgw, by: border_gateway_sync_start(border_gateway=bgw, created_by=by),
)
def border_gateway_sync(run: JobRun) -> None:
    bgw = BorderGateway.objects.select_related("cluster").get(pk=run.job.target_id)
    sync_border_gateway(run, bgw)


@workflow(
    "cluster_provision",
    label="Cluster provisioning",
    target="fabric.Cluster",
    restart=lambda cluster, by: cluster_provision_start(cluster=cluster, created_by=by),
)
def cluster_provision(run: JobRun) -> None:
    """For each RR: rr_prepare, rr_apply_config, rr_verify; each serving node's bird.conf
    (so that it peers with every RR); then the border gateway."""
    cluster = Cluster.objects.get(pk=run.job.target_id)
    cluster_set_state(cluster, Cluster.State.PROVISIONING)
    touched: list[Cluster | RouteReflector] = [cluster]  # what a final failure marks failed
    try:
        for rr in active_route_reflectors(cluster):
            # if_allowed: an RR being removed meanwhile stays `removing`
            route_reflector_set_state(rr, RouteReflector.State.PROVISIONING, if_allowed=True)
            touched.append(rr)
            apply_route_reflector(run, rr, prepare=True)
            with run.step("rr_verify") as step, open_session(rr) as session:
                step.record(route_reflector=rr.pk)
                protocols = show_protocols(session, bird_paths(rr))
                if protocols is None:
                    raise SessionsNotEstablished(f"BIRD on {rr.name} is not answering")
                step.record(protocols=[{"protocol": n, "state": p.state, "info": p.info,
                                        "established": p.established}
                                       for n, p in protocols.items()])  # fmt: skip
                step.log(", ".join(f"{n} {p.state} {p.info}".strip() for n, p in protocols.items()))
            route_reflector_set_state(rr, RouteReflector.State.READY, if_allowed=True)
        apply_serving_nodes(run, cluster)  # nodes peer with every RR: a new RR is one more
        bgw = BorderGateway.objects.filter(cluster=cluster).first()
        if bgw:
            sync_border_gateway(run, bgw)
    except Exception as exc:
        if not run.will_retry(exc):
            devices_mark_failed(*touched)  # the border gateway: sync_border_gateway did
        raise
    cluster_set_state(cluster, Cluster.State.READY)


@workflow(
    "route_reflector_remove",
    label="Remove route reflector",
    target="fabric.RouteReflector",
    restart=lambda rr, by: route_reflector_remove_start(rr=rr, created_by=by),
)
def route_reflector_remove(run: JobRun) -> None:
    """Take the RR out of every serving node's bird.conf and the border gateway's group
    (commit confirmed), stop its BIRD if it still answers, then forget it.

    `route_reflector_remove_start` made the decision (another ready RR, nothing else in
    progress in the cluster) and marked it `removing`; this only carries it out.
    """
    rr = RouteReflector.objects.select_related("cluster").filter(pk=run.job.target_id).first()
    if rr is None:  # a redelivery after rr_forget: the work is done
        with run.step("rr_forget") as step:
            step.skip(f"route reflector {run.job.target_repr} already removed")
        return
    cluster = rr.cluster
    with run.step("rr_check") as step:
        route_reflector_set_state(rr, RouteReflector.State.REMOVING)
        others = [f"{o.name} ({o.state})" for o in active_route_reflectors(cluster)]
        if not others:
            raise DeviceError(f"{rr.name} is the only route reflector of {cluster.name}")
        step.log(f"nodes and the border gateway keep: {', '.join(others)}")
    apply_serving_nodes(run, cluster)
    bgw = BorderGateway.objects.filter(cluster=cluster).first()
    if bgw:
        sync_border_gateway(run, bgw)
    with run.step("rr_decommission") as step:
        try:
            with ExitStack() as stack:
                stopped = stop_bird(connect(stack, rr), bird_paths(rr))
        except NodeUnreachable as exc:
            step.skip(f"{rr.name} is unreachable ({exc}); no peer accepts it any more")
        except (HostKeyUnknown, HostKeyMismatch) as exc:  # never log in to an unknown host
            step.skip(f"{rr.name} not contacted: {exc}; no peer accepts it any more")
        else:
            step.log(f"BIRD on {rr.name} {'stopped (birdc down)' if stopped else 'was not running'}"
                     "; its files are left in place, and no peer accepts it if it is started "
                     "again")  # fmt: skip
    with run.step("rr_forget") as step:
        rr.delete()
        step.log(f"route reflector {rr.name} removed")
