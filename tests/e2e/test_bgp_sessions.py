"""The BGP session collection against the lab's real BIRD 2 over SSH: after provisioning
and a VM, the RRs and the node show their sessions Established with the VM's route on
them, the cluster page draws them so, and a device that stops answering goes stale."""

import pytest

from apps.compute.services import vm_order
from apps.compute.workflows import vm_create
from apps.fabric.bgp_sessions import collect_bgp_sessions
from apps.fabric.models import BgpSessionState, Node, RouteReflector
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from apps.portal.topology import cluster_topology
from tests.e2e.conftest import birdc
from tests.factories import make_plan, make_tenant
from workers.bird import parse_bgp_sessions

pytestmark = pytest.mark.lab


def test_collection_sees_established_sessions_with_routes_on_rrs_and_the_node(lab, ready_cluster):
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="counted")
    run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
    node = Node.objects.get(name="node1")
    rrs = list(RouteReflector.objects.filter(cluster=ready_cluster).order_by("name"))
    jobs_before = Job.objects.count()

    summary = collect_bgp_sessions()

    assert summary["stale"] == [] and summary["answered"] == len(rrs) + 1
    assert Job.objects.count() == jobs_before  # no job rows per pass
    node_rows = {r.protocol: r for r in BgpSessionState.objects.filter(node=node)}
    for rr in rrs:
        to_rr = node_rows[f"rr_{rr.pk}"]
        assert (to_rr.state, to_rr.peer_address, to_rr.stale) == ("Established", rr.peering_ip,
                                                                  False)  # fmt: skip
        assert to_rr.routes_exported >= 1  # the VM's /32
        rr_rows = {r.protocol: r for r in BgpSessionState.objects.filter(route_reflector=rr)}
        from_node = rr_rows[f"node_{node.pk}"]
        assert (from_node.state, from_node.peer_address) == ("Established", node.underlay_ip)
        assert from_node.routes_imported >= 1
        to_router = rr_rows["border_gateway"]
        assert to_router.state == "Established" and to_router.routes_exported >= 1
    drawn = cluster_topology(ready_cluster)
    assert {link.session.state for link in drawn.links} == {"established"}
    assert all(link.session.routes >= 1 for link in drawn.links)


def test_the_workflows_record_the_sessions_and_the_rr_they_worked_on(lab, ready_cluster):
    node = Node.objects.get(name="node1")
    rr_pks = set(ready_cluster.route_reflectors.values_list("pk", flat=True))
    job = Job.objects.get(kind="node_add", target_id=node.pk)
    steps = list(job.steps.order_by("position"))

    verify = next(s for s in steps if s.name == "node_verify_sessions")
    seen = {
        (s["route_reflector"], s["protocol"], s["established"]) for s in verify.data["sessions"]
    }
    assert seen == {(pk, f"rr_{pk}", True) for pk in rr_pks}
    applied = [s.data for s in steps if s.name == "rr_apply_config"]
    assert {d["route_reflector"] for d in applied} == rr_pks
    assert all(d["changed"] and d["sessions_reset"] == [] for d in applied)
    assert next(s for s in steps if s.name == "node_apply_bird").data["node"] == node.pk


def test_the_parser_reads_the_labs_own_output(lab, ready_cluster):
    """The unit tests' captures come from the same BIRD 2; this reads the lab's, live."""
    node = Node.objects.get(name="node1")
    sessions = parse_bgp_sessions(birdc(lab, "node1", "show protocols all"))

    rr_protocols = {
        f"rr_{pk}" for pk in ready_cluster.route_reflectors.values_list("pk", flat=True)
    }
    assert set(sessions) == rr_protocols
    assert all(s.established and s.neighbor for s in sessions.values())
    assert node.underlay_ip not in {s.neighbor for s in sessions.values()}


def test_a_node_that_stops_answering_keeps_its_states_marked_stale(lab, ready_cluster):
    collect_bgp_sessions()
    node = Node.objects.get(name="node1")
    seen = {r.protocol: r.seen_at for r in BgpSessionState.objects.filter(node=node)}
    Node.objects.filter(pk=node.pk).update(ssh_port=2)  # nothing listens there

    summary = collect_bgp_sessions()

    assert [line.split(":")[0] for line in summary["stale"]] == ["node node1"]
    rows = BgpSessionState.objects.filter(node=node)
    assert {r.protocol: r.seen_at for r in rows} == seen
    assert all(r.stale and r.state == "Established" and "NodeUnreachable" in r.stale_reason
               for r in rows)  # fmt: skip
    assert not BgpSessionState.objects.filter(route_reflector__cluster=ready_cluster,
                                              stale=True).exists()  # fmt: skip
