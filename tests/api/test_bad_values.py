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
