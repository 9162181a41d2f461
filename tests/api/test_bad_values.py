"""Nonsense the API refuses with a 400 naming the field (issue 15): device addresses that
are not unicast, capacities and quotas past sane maxima, BIRD paths that are not normalised,
AS numbers (plain or asdot) with one clear message."""

import pytest

from tests.api.conftest import assert_error
from tests.api.test_resources import TestBorderGateways, TestNodes, TestRouteReflectors

NODES, RRS, BGWS = "/api/v1/nodes/", "/api/v1/route-reflectors/", "/api/v1/border-gateways/"


def post(world, path, body):
    return world.client("admin").post(path, body, format="json")


UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address that is refused, not one bound to


@pytest.mark.parametrize("address", [UNSPECIFIED, "255.255.255.255", "127.0.0.1", "224.0.0.1"])
@pytest.mark.parametrize(
    ("path", "resource", "field"),
    [
        (NODES, TestNodes, "underlay_ip"),
        (RRS, TestRouteReflectors, "peering_ip"),
        (BGWS, TestBorderGateways, "peering_ip"),
    ],
)
def test_a_device_address_that_is_not_unicast_is_400(world, path, resource, field, address):
    body = {**resource().payload(world), field: address}
    error = assert_error(post(world, path, body), 400, "validation_error", field)
    assert address in error["fields"][field][0]


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("vcpus", 4097, "4096"),
        ("memory_mb", 2**26 + 1, "67108864"),
        ("disk_gb", 2**20 + 1, "1048576"),
    ],
)
def test_node_capacity_past_the_maximum_is_400_saying_it(world, field, value, limit):
    body = {**TestNodes().payload(world), field: value}
    error = assert_error(post(world, NODES, body), 400, "validation_error", field)
    assert limit in error["fields"][field][0]


def test_tenant_quota_past_the_maximum_is_400_saying_it(world):
    response = post(world, "/api/v1/tenants/", {"name": "bigco", "max_vms": 10**6})
    error = assert_error(response, 400, "validation_error", "max_vms")
    assert "100000" in error["fields"]["max_vms"][0]


@pytest.mark.parametrize("path", ["/etc/bird/../passwd", "/etc/bird//bird.conf", "/etc/bird/./b"])
def test_a_bird_path_that_is_not_normalised_is_400(world, path):
    body = {**TestRouteReflectors().payload(world), "bird_config_path": path}
    error = assert_error(post(world, RRS, body), 400, "validation_error", "bird_config_path")
    assert "normalised" in error["fields"]["bird_config_path"][0]


# --- AS numbers --------------------------------------------------------------------------------

CLUSTERS = "/api/v1/clusters/"


def cluster_body(asn) -> dict:
    return {"name": "ams9", "bgp_asn": asn, "bgp_community": "65001:7"}


@pytest.mark.parametrize(("typed", "stored"), [("1.10", 65546), ("65000", 65000), (64512, 64512)])
def test_cluster_asn_plain_or_asdot_is_accepted(world, typed, stored):
    response = post(world, CLUSTERS, cluster_body(typed))
    assert response.status_code == 201, response.content[:500]
    assert response.json()["bgp_asn"] == stored


@pytest.mark.parametrize("typed", [-1, "-1", 0, 4294967296, "1.65536", "65536.0", "x", "1.2.3"])
def test_a_bad_asn_is_one_message_naming_the_field(world, typed):
    response = post(world, CLUSTERS, cluster_body(typed))
    error = assert_error(response, 400, "validation_error", "bgp_asn")
    [message] = error["fields"]["bgp_asn"]
    assert "AS number" in message


def test_border_gateway_peer_asn_defaults_to_the_clusters_as_and_takes_asdot(world):
    body = TestBorderGateways().payload(world)
    del body["peer_asn"]
    response = post(world, BGWS, body)
    assert response.status_code == 201, response.content[:500]
    cluster_asn = world.client("admin").get(f"{CLUSTERS}{body['cluster']}/").json()["bgp_asn"]
    assert response.json()["peer_asn"] == cluster_asn  # iBGP, as the wizard and the article
    asdot = {**TestBorderGateways().payload(world), "peer_asn": "1.10"}
    assert post(world, BGWS, asdot).json()["peer_asn"] == 65546
    error = assert_error(post(world, BGWS, {**asdot, "peer_asn": -1}), 400, "validation_error",
                         "peer_asn")  # fmt: skip
    assert len(error["fields"]["peer_asn"]) == 1
