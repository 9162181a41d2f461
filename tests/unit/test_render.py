"""Device configs: golden files, and every BIRD config parsed by the real `bird -p`."""

import dataclasses
import os
from pathlib import Path

import pytest

from workers.bird import check_config
from workers.errors import BirdConfigInvalid
from workers.junos import split_pending_banner
from workers.render import (
    BgpPeer,
    BorderGatewayConfig,
    Community,
    NodeBirdConfig,
    RouteReflectorBirdConfig,
    VmRoute,
    render_border_gateway_junos,
    render_node_bird,
    render_route_reflector_bird,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("FABRIC_UPDATE_GOLDEN") == "1"

RR = RouteReflectorBirdConfig(
    cluster="ams1",
    name="rr1",
    router_id="198.51.100.2",
    asn=65000,
    community=Community((65000, 100)),
    border_gateway=BgpPeer("border_gateway", "Border gateway mx1", "198.51.100.1"),
    border_gateway_asn=65000,
    nodes=(
        BgpPeer("node_1", "Node hv1", "198.51.100.11"),
        BgpPeer("node_2", "Node hv2", "198.51.100.12"),
    ),
    networks_v4=("203.0.113.0/24",),
    networks_v6=(),
)
NODE = NodeBirdConfig(
    cluster="ams1",
    node="hv1",
    router_id="198.51.100.11",
    asn=65000,
    route_reflectors=(
        BgpPeer("rr_1", "Route reflector rr1", "198.51.100.2"),
        BgpPeer("rr_2", "Route reflector rr2", "198.51.100.3"),
    ),
    networks_v4=("203.0.113.0/24",),
    networks_v6=(),
    routes_v4=(VmRoute("203.0.113.10/32", "vnet1"), VmRoute("203.0.113.11/32", "vnet2")),
)
BGW = BorderGatewayConfig(
    cluster="ams1",
    asn=65000,
    peer_asn=65000,
    group="FABRIC-ams1",
    policy="FABRIC-ams1",
    reject_policy="FABRIC-ams1-REJECT",
    neighbors=("198.51.100.2", "198.51.100.3"),
    networks_v4=("203.0.113.0/24", "192.0.2.0/24"),
    networks_v6=("2001:db8:100::/48",),
)

BIRD_CASES = {
    "rr.conf": lambda: render_route_reflector_bird(RR),
    "rr-dual-stack-large-community.conf": lambda: render_route_reflector_bird(
        dataclasses.replace(
            RR, community=Community((4200000000, 1, 2)), networks_v6=("2001:db8:100::/48",)
        )
    ),
    "rr-ebgp-no-nodes.conf": lambda: render_route_reflector_bird(
        dataclasses.replace(RR, border_gateway_asn=64999, nodes=())
    ),
    "rr-no-border-gateway.conf": lambda: render_route_reflector_bird(
        dataclasses.replace(RR, border_gateway=None)
    ),
    "node.conf": lambda: render_node_bird(NODE),
    "node-dual-stack.conf": lambda: render_node_bird(
        dataclasses.replace(
            NODE,
            networks_v6=("2001:db8:100::/48",),
            routes_v6=(VmRoute("2001:db8:100::10/128", "vnet1"),),
        )
    ),
    "node-empty.conf": lambda: render_node_bird(
        dataclasses.replace(NODE, networks_v4=(), routes_v4=(), route_reflectors=())
    ),
}


def _compare_with_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with FABRIC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(BIRD_CASES))
def test_bird_config_matches_golden_and_parses(name):
    text = BIRD_CASES[name]()
    _compare_with_golden(name, text)
    check_config(text)


def test_junos_lines_match_golden():
    lines = render_border_gateway_junos(BGW)
    _compare_with_golden("border-gateway.set", "\n".join(lines) + "\n")


def test_node_config_router_id_is_the_underlay_never_the_gateway():
    text = render_node_bird(NODE)
    assert "router id 198.51.100.11;" in text
    assert "10.0.0.1" not in text


def test_route_reflector_has_one_rr_client_session_per_node_with_its_name():
    text = render_route_reflector_bird(RR)
    template = text.split("template bgp node_session {", 1)[1].split("\n}\n", 1)[0]
    assert "rr client;" in template and "rr cluster id 198.51.100.2;" in template
    assert text.count(" from node_session {") == 2  # two nodes, both rr clients
    assert text.count("rr client;") == 2  # the template and the border gateway
    assert 'description "Node hv1";' in text and 'description "Node hv2";' in text
    assert "neighbor 198.51.100.12 as 65000;" in text
    assert "bgp_community.add((65000,100));" in text


def test_check_config_reports_bird_error_with_line():
    broken = render_node_bird(NODE).replace("router id 198.51.100.11;", "router id 198.51.100;")
    with pytest.raises(BirdConfigInvalid, match=r"bird\.conf:\d+:\d+"):
        check_config(broken)


def test_check_config_rejects_an_undefined_filter():
    broken = render_node_bird(NODE).replace("export filter vm_export_v4;", "export filter nope;")
    with pytest.raises(BirdConfigInvalid, match="bird.conf:31:.*syntax error"):
        check_config(broken)


def test_the_pending_commit_confirmed_banner_is_told_apart_from_a_diff():
    diff = "[edit protocols bgp group VM]\n+    neighbor 10.0.0.2;\n"
    banner = "# commit confirmed will be rolled back in 4 minutes\n"
    assert split_pending_banner(banner) == ("", True)
    assert split_pending_banner(diff + banner) == (diff, True)
    assert split_pending_banner(diff) == (diff, False)
    automatic = "# commit confirmed will be automatically rolled back in 1 minute\n"
    assert split_pending_banner(automatic) == ("", True)
