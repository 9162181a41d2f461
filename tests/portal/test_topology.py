"""The cluster page's live topology and the RR's session table, from the collected BGP
session states (BgpSessionState), never from a job's output."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.fabric.models import BgpSessionState
from apps.fabric.services import bgp_sessions_mark_stale, bgp_sessions_record
from tests.factories import make_bgw, make_cluster, make_node, make_rr
from tests.portal.conftest import make_job
from workers.bird import BgpSession

pytestmark = pytest.mark.django_db


def bgp(name, state="Established", neighbor="", imported=0, exported=0, info=""):
    return BgpSession(name=name, state=state, info=info or state, since="2026-12-02 15:53:50",
                      neighbor=neighbor, description="", routes_imported=imported,
                      routes_exported=exported)  # fmt: skip


def link(page: str, upper: str, lower: str) -> str:
    """The SVG group of the session between two boxes (e.g. "rr-3", "node-5")."""
    match = re.search(rf'<g class="topo-link[^"]*"[^>]*data-from="{upper}" data-to="{lower}"[^>]*>',
                      page)  # fmt: skip
    assert match, (upper, lower)
    return match.group(0)


def test_cluster_page_draws_each_session_coloured_with_its_routes(world):
    now = timezone.now()
    rr, node, bgw = world.rr, world.node, world.bgw
    bgp_sessions_record(device=rr, seen_at=now, sessions={
        "border_gateway": bgp("border_gateway", "Active", "10.3.0.1",
                              info="Active        Socket: Connection refused"),
        f"node_{node.pk}": bgp(f"node_{node.pk}", neighbor="10.1.0.1", imported=2),
    })  # fmt: skip
    bgp_sessions_record(device=node, seen_at=now, sessions={
        f"rr_{rr.pk}": bgp(f"rr_{rr.pk}", neighbor="10.2.0.1", exported=2),
    })  # fmt: skip
    silent = make_node(cluster=world.cluster, name="hv2", underlay_ip="10.1.0.2", state="ready")

    page = world.client("auditor").get(f"/clusters/{world.cluster.pk}/").content.decode()

    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    established = link(page, f"rr-{rr.pk}", f"node-{node.pk}")
    assert 'data-state="established"' in established and 'data-routes="2"' in established
    down = link(page, f"bgw-{bgw.pk}", f"rr-{rr.pk}")
    assert 'data-state="down"' in down and 'data-routes="0"' in down
    unknown = link(page, f"rr-{rr.pk}", f"node-{silent.pk}")
    assert 'data-state="unknown"' in unknown and "data-routes" not in unknown
    assert "2 routes" in page and "Socket: Connection refused" in page
    assert f'hx-get="/clusters/{world.cluster.pk}/topology/"' in page


def test_a_device_not_answering_keeps_its_last_state_marked_stale(world):
    then = timezone.now() - timedelta(minutes=5)
    bgp_sessions_record(device=world.node, seen_at=then, sessions={
        f"rr_{world.rr.pk}": bgp(f"rr_{world.rr.pk}", neighbor="10.2.0.1", exported=2),
    })  # fmt: skip
    bgp_sessions_mark_stale(device=world.node, reason="NodeUnreachable: timed out after 10s")

    part = world.client("operator").get(f"/clusters/{world.cluster.pk}/topology/")
    page = part.content.decode()

    assert page.lstrip().startswith("<section") and "<html" not in page  # the part alone
    stale = link(page, f"rr-{world.rr.pk}", f"node-{world.node.pk}")
    assert 'data-state="established"' in stale and 'data-stale="true"' in stale
    assert timezone.localtime(then).strftime("%Y-%m-%d %H:%M:%S") in page
    node_page = world.client("operator").get(f"/nodes/{world.node.pk}/").content.decode()
    assert 'data-state="stale"' in node_page and "NodeUnreachable: timed out" in node_page


def test_node_side_answering_wins_over_a_stale_rr_side(world):
    now = timezone.now()
    bgp_sessions_record(device=world.rr, seen_at=now - timedelta(minutes=9), sessions={
        f"node_{world.node.pk}": bgp(f"node_{world.node.pk}", "Idle", "10.1.0.1"),
    })  # fmt: skip
    bgp_sessions_mark_stale(device=world.rr, reason="HostKeyMismatch")
    bgp_sessions_record(device=world.node, seen_at=now, sessions={
        f"rr_{world.rr.pk}": bgp(f"rr_{world.rr.pk}", neighbor="10.2.0.1", exported=7),
    })  # fmt: skip

    page = world.client("operator").get(f"/clusters/{world.cluster.pk}/topology/").content.decode()

    drawn = link(page, f"rr-{world.rr.pk}", f"node-{world.node.pk}")
    assert 'data-state="established"' in drawn and 'data-routes="7"' in drawn
    assert 'data-stale="false"' in drawn


def test_another_clusters_states_are_not_drawn(world):
    other = make_cluster(name="ams1", state="ready")
    twin = make_rr(cluster=other, name="rr1", peering_ip="10.9.0.1", state="ready")
    make_bgw(cluster=other, name="mx9", peering_ip="10.9.0.254")
    bgp_sessions_record(device=twin, seen_at=timezone.now(), sessions={
        "border_gateway": bgp("border_gateway", neighbor="10.9.0.254", exported=40),
    })  # fmt: skip

    page = world.client("operator").get(f"/clusters/{world.cluster.pk}/topology/").content.decode()

    assert 'data-state="established"' not in page and "40 routes" not in page
    assert f"rr-{twin.pk}" not in page


def test_rr_page_lists_its_sessions_with_peers_and_routes(world):
    seen = timezone.now()
    bgp_sessions_record(device=world.rr, seen_at=seen, sessions={
        "border_gateway": bgp("border_gateway", neighbor="10.3.0.1", exported=2),
        f"node_{world.node.pk}": bgp(f"node_{world.node.pk}", "Connect", "10.1.0.1"),
    })  # fmt: skip

    page = world.client("auditor").get(f"/route-reflectors/{world.rr.pk}/").content.decode()

    rows = re.findall(r'<tr data-protocol="([^"]+)">(.*?)</tr>', page, re.S)
    assert [name for name, _ in rows] == ["border_gateway", f"node_{world.node.pk}"]
    bgw_row, node_row = rows[0][1], rows[1][1]
    assert f'href="/border-gateways/{world.bgw.pk}/">mx1<' in bgw_row
    assert 'data-state="established"' in bgw_row and "<td>2</td>" in bgw_row
    assert f'href="/nodes/{world.node.pk}/">hv1<' in node_row
    assert 'data-state="down"' in node_row and "Connect" in node_row


def test_collected_states_replace_what_the_device_no_longer_has(world):
    now = timezone.now()
    bgp_sessions_record(device=world.rr, seen_at=now - timedelta(minutes=1), sessions={
        "node_98": bgp("node_98"), "node_99": bgp("node_99"),
    })  # fmt: skip
    bgp_sessions_mark_stale(device=world.rr, reason="down")
    bgp_sessions_record(device=world.rr, seen_at=now, sessions={"node_99": bgp("node_99", "Idle")})

    rows = list(BgpSessionState.objects.filter(route_reflector=world.rr).values_list(
        "protocol", "state", "stale", "seen_at"))  # fmt: skip
    assert rows == [("node_99", "Idle", False, now)]


def test_node_page_prefers_the_collected_state_to_the_last_check(world):
    make_job(kind="node_add", target=world.node, state="failed", steps=[
        ("node_verify_sessions", "failed", "not Established",
         {"sessions": [{"protocol": f"rr_{world.rr.pk}", "route_reflector": world.rr.pk,
                        "established": False, "info": "Active"}]}),
    ])  # fmt: skip
    bgp_sessions_record(device=world.node, seen_at=timezone.now(), sessions={
        f"rr_{world.rr.pk}": bgp(f"rr_{world.rr.pk}", neighbor="10.2.0.1", exported=2),
    })  # fmt: skip

    page = world.client("operator").get(f"/nodes/{world.node.pk}/").content.decode()
    table = page[page.index('id="bgp-sessions"') :]

    assert 'data-state="established"' in table and 'data-state="down"' not in table
    assert "<td>2</td>" in table
