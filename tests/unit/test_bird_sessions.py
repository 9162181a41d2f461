"""`birdc show protocols all` read into BGP sessions, on real BIRD 2.0.12 output (tests/unit/
birdc/): `lab-*` captured from the lab (rr1 and node1 of a provisioned cluster with one VM);
the others from two BIRD daemons of the same package peering over loopback, for what the
lab does not show when healthy (a peer not answering, IPv4 and IPv6 channels)."""

from pathlib import Path

from workers.bird import parse_bgp_sessions

CAPTURED = Path(__file__).parent / "birdc"


def read(name: str) -> str:
    return (CAPTURED / name).read_text()


def test_the_labs_route_reflector_and_node():
    rr = parse_bgp_sessions(read("lab-rr1-show-protocols-all.txt"))
    node = parse_bgp_sessions(read("lab-node1-show-protocols-all.txt"))

    assert {n: (s.state, s.neighbor, s.routes_imported, s.routes_exported)
            for n, s in rr.items()} == {
        "border_gateway": ("Established", "198.18.214.1", 0, 1),
        "node_1": ("Established", "198.18.214.11", 1, 0),
    }  # fmt: skip
    assert {n: (s.state, s.neighbor, s.routes_imported, s.routes_exported)
            for n, s in node.items()} == {
        "rr_1": ("Established", "198.18.214.2", 0, 1),
        "rr_2": ("Established", "198.18.214.3", 0, 1),
    }  # fmt: skip
    assert rr["border_gateway"].description == "Border gateway mx-lab"
    assert node["rr_2"].since == "2026-12-02 16:02:55.422"


def test_route_reflector_sessions_with_state_neighbor_and_routes():
    sessions = parse_bgp_sessions(read("rr-show-protocols-all.txt"))

    assert sorted(sessions) == ["border_gateway", "node_1"]  # device1, kernel1: not BGP
    node = sessions["node_1"]
    assert (node.state, node.established, node.neighbor) == ("Established", True, "127.0.0.2")
    assert (node.routes_imported, node.routes_exported) == (2, 0)
    assert node.description == "Node hv1"
    assert node.since == "2026-12-02 15:53:50.148"
    bgw = sessions["border_gateway"]
    assert (bgw.state, bgw.established, bgw.neighbor) == ("Active", False, "127.0.0.3")
    assert bgw.info == "Active        Socket: Connection refused"
    assert (bgw.routes_imported, bgw.routes_exported) == (0, 0)  # its channel is down


def test_node_session_counts_the_routes_it_exports():
    sessions = parse_bgp_sessions(read("node-show-protocols-all.txt"))

    assert list(sessions) == ["rr_1"]  # the static protocol's routes are not a session's
    rr = sessions["rr_1"]
    assert (rr.state, rr.neighbor, rr.routes_imported, rr.routes_exported) == (
        "Established", "127.0.0.1", 0, 2
    )  # fmt: skip


def test_routes_are_summed_over_the_ipv4_and_ipv6_channels():
    node = parse_bgp_sessions(read("node-dual-stack-show-protocols-all.txt"))["rr_1"]
    rr = parse_bgp_sessions(read("rr-dual-stack-show-protocols-all.txt"))["node_1"]

    assert (node.routes_imported, node.routes_exported) == (0, 3)
    assert (rr.routes_imported, rr.routes_exported) == (2, 0)


def test_a_session_down_without_details_and_a_filtered_count():
    output = (
        "BIRD 2.0.12 ready.\n"
        "Name       Proto      Table      State  Since         Info\n"
        "rr_7       BGP        ---        down   2026-12-02 15:53:38.526  Error: Invalid next hop\n"
        "node_3     BGP        ---        up     2026-12-02 15:53:38.526  Established\n"
        "  BGP state:          Established\n"
        "  Channel ipv4\n"
        "    Routes:         5 imported, 2 filtered, 1 exported, 5 preferred\n"
    )

    sessions = parse_bgp_sessions(output)

    assert (sessions["rr_7"].state, sessions["rr_7"].info) == ("Down", "Error: Invalid next hop")
    assert (sessions["node_3"].routes_imported, sessions["node_3"].routes_exported) == (5, 1)


def test_nothing_from_an_answer_that_is_not_birds():
    assert parse_bgp_sessions("") == {}
    assert parse_bgp_sessions("Unable to connect to server control socket") == {}
