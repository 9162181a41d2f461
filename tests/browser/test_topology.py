"""The cluster page's topology in Chromium: an SVG drawn by the server, each session
coloured by its stored state, redrawn by htmx while the page is open. (The states are
stored here as the collection stores them; tests/e2e/test_bgp_sessions.py collects them
from the lab's BIRD.)"""

import pytest
from django.utils import timezone

from apps.fabric.services import bgp_sessions_record
from tests.browser.conftest import PASSWORD, login, screenshot
from tests.factories import make_bgw, make_cluster, make_membership, make_node, make_rr, make_user
from workers.bird import BgpSession

pytestmark = [pytest.mark.django_db(transaction=True)]

GREEN, RED = "rgb(30, 125, 79)", "rgb(180, 35, 24)"  # --good and --bad of portal.css


def bgp(name: str, state: str, neighbor: str, imported: int = 0, exported: int = 0):
    return BgpSession(
        name=name, state=state, info=state, since="", neighbor=neighbor, description="",
        routes_imported=imported, routes_exported=exported,
    )  # fmt: skip


def stroke(page, selector: str) -> str:
    return page.eval_on_selector(f"{selector} line", "e => getComputedStyle(e).stroke")


def test_cluster_page_shows_the_topology_and_redraws_it(live_server, page, settings):
    settings.FABRIC_TOPOLOGY_REFRESH_SECONDS = 1
    cluster = make_cluster(name="fra1", state="ready")
    bgw = make_bgw(cluster=cluster, name="mx1", peering_ip="10.3.0.1")
    rr = make_rr(cluster=cluster, name="rr1", peering_ip="10.2.0.1", state="ready")
    node = make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.1", state="ready")
    now = timezone.now()
    bgp_sessions_record(device=rr, seen_at=now, sessions={
        "border_gateway": bgp("border_gateway", "Established", "10.3.0.1", exported=3),
        f"node_{node.pk}": bgp(f"node_{node.pk}", "Established", "10.1.0.1", imported=3),
    })  # fmt: skip
    bgp_sessions_record(device=node, seen_at=now, sessions={
        f"rr_{rr.pk}": bgp(f"rr_{rr.pk}", "Established", "10.2.0.1", exported=3),
    })  # fmt: skip
    make_membership(user=make_user(username="ops", password=PASSWORD), role="operator")
    login(page, live_server, "ops")

    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")

    node_link = f'#topology g.topo-link[data-from="rr-{rr.pk}"][data-to="node-{node.pk}"]'
    page.wait_for_selector(f"#topology svg {node_link.removeprefix('#topology ')}")
    assert page.get_attribute(node_link, "data-state") == "established"
    assert stroke(page, node_link) == GREEN
    assert page.text_content(f"{node_link} text") == "3 routes"
    for box in (f"bgw-{bgw.pk}", f"rr-{rr.pk}", f"node-{node.pk}"):
        assert page.is_visible(f'#topology a[data-device="{box}"] rect')
    screenshot(page, "cluster-topology")

    # The node's session goes down: the open page redraws it red, without a reload.
    bgp_sessions_record(device=node, seen_at=timezone.now(), sessions={
        f"rr_{rr.pk}": bgp(f"rr_{rr.pk}", "Active", "10.2.0.1"),
    })  # fmt: skip
    page.wait_for_selector(f'{node_link}[data-state="down"]', timeout=10_000)
    assert stroke(page, node_link) == RED
    assert page.text_content(f"{node_link} text") == "0 routes"
    screenshot(page, "cluster-topology-session-down")
