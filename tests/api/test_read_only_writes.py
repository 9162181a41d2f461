"""Writes the API can't honour are refused, never ignored: a PATCH of a field that can't
change (400 naming it), whatever the resource; the same value given back is fine."""

import pytest

from tests.api.conftest import assert_error
from tests.api.test_resources import order_running_vm
from tests.factories import make_bgw, make_cluster, make_node, make_rr

CREATE_ONLY = "can't be changed after creation"


def patch(world, path, body, who="admin"):
    return world.client(who).patch(path, body, format="json")


@pytest.mark.parametrize(
    "path, make, field, value",
    [
        ("border-gateways", lambda w: make_bgw(cluster=w.cluster), "cluster", "other"),
        ("route-reflectors", lambda w: make_rr(cluster=w.cluster), "peering_ip", "10.9.9.9"),
        ("route-reflectors", lambda w: make_rr(cluster=w.cluster), "cluster", "other"),
        ("nodes", lambda w: make_node(cluster=w.cluster), "underlay_ip", "10.9.9.9"),
        ("nodes", lambda w: make_node(cluster=w.cluster), "hypervisor", "lxd"),
        ("vms", order_running_vm, "name", "renamed"),
    ],
)
def test_a_create_only_field_is_400_naming_it(world, path, make, field, value):
    obj = make(world)
    if value == "other":
        value = make_cluster().pk
    url = f"/api/v1/{path}/{obj.pk}/"
    before = world.client("admin").get(url).json()
    error = assert_error(patch(world, url, {field: value}), 400, "validation_error", field)
    assert CREATE_ONLY in error["fields"][field][0]
    assert world.client("admin").get(url).json() == before  # nothing changed


def test_a_read_only_field_is_400_naming_it(world):
    vm = order_running_vm(world)
    response = patch(world, f"/api/v1/vms/{vm.pk}/", {"state": "deleted", "description": "x"})
    error = assert_error(response, 400, "validation_error", "state")
    assert "read-only" in error["fields"]["state"][0]
    vm.refresh_from_db()
    assert (vm.state, vm.description) == ("running", "")


def test_the_object_given_back_unchanged_is_accepted(world):
    rr = make_rr(cluster=world.cluster)
    url = f"/api/v1/route-reflectors/{rr.pk}/"
    body = world.client("admin").get(url).json()
    body["description"] = "round trip"
    response = patch(world, url, body)
    assert response.status_code == 200, response.content[:500]
    assert response.json()["description"] == "round trip"
