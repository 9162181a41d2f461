"""Operators run the fabric but cannot redirect it: management access (addresses, host keys,
credentials, BIRD paths) is the admins'. And no BIRD path outside the allow-list."""

import pytest

from apps.fabric.models import Node
from tests.api.conftest import assert_error
from tests.factories import TEST_HOST_KEY, make_bgw, make_node, make_rr

pytestmark = pytest.mark.django_db

NODE = {"name": "hv-9", "underlay_ip": "10.8.0.9", "ssh_password": "pw-for-tests",
        "ssh_host_key": TEST_HOST_KEY, "vcpus": 8, "memory_mb": 8192, "disk_gb": 100}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ssh_host", "203.0.113.66"),
        ("ssh_port", 2222),
        ("ssh_host_key", ""),
        ("ssh_username", "admin"),
        ("ssh_password", "new"),
        ("bird_config_path", "/etc/bird/other.conf"),
    ],
)
def test_an_operator_cannot_redirect_a_node(world, field, value):
    node = make_node(cluster=world.cluster)
    response = world.client("operator").patch(
        f"/api/v1/nodes/{node.pk}/", {field: value}, format="json"
    )
    assert_error(response, 400, "validation_error", field)
    assert Node.objects.get(pk=node.pk).ssh_host_key == TEST_HOST_KEY


def test_an_operator_still_runs_a_node_and_an_admin_may_redirect_it(world):
    node = make_node(cluster=world.cluster)
    operator = world.client("operator")
    ok = operator.patch(f"/api/v1/nodes/{node.pk}/", {"description": "rack 4"}, format="json")
    assert ok.status_code == 200, ok.content
    admin = world.client("admin")
    moved = admin.patch(f"/api/v1/nodes/{node.pk}/", {"ssh_port": 2222}, format="json")
    assert moved.status_code == 200 and moved.json()["ssh_port"] == 2222


@pytest.mark.parametrize(
    ("path", "make", "field"),
    [
        ("route-reflectors", make_rr, "ssh_host"),
        ("border-gateways", make_bgw, "mgmt_host"),
        ("border-gateways", make_bgw, "ssh_host_key"),
    ],
)
def test_an_operator_cannot_redirect_an_rr_or_the_border_gateway(world, path, make, field):
    obj = make(cluster=world.cluster)
    response = world.client("operator").patch(
        f"/api/v1/{path}/{obj.pk}/", {field: "203.0.113.66"}, format="json"
    )
    assert_error(response, 400, "validation_error", field)


def test_only_an_admin_adds_a_device(world):
    payload = {**NODE, "cluster": world.cluster.pk}
    assert_error(world.client("operator").post("/api/v1/nodes/", payload, format="json"), 403)
    assert not Node.objects.filter(name="hv-9").exists()
    assert world.client("admin").post("/api/v1/nodes/", payload, format="json").status_code == 202


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/bird/../shadow", "/etc/bird//bird.conf", "/etc/bird/", "/root/bird.conf",
     "/etc/birdx/bird.conf", "/run/bird/./bird.ctl"],
)  # fmt: skip
def test_bird_paths_outside_the_allow_list_are_refused(world, path):
    admin = world.client("admin")
    payload = {**NODE, "cluster": world.cluster.pk, "bird_config_path": path}
    assert_error(
        admin.post("/api/v1/nodes/", payload, format="json"), 400, field="bird_config_path"
    )
    node = make_node(cluster=world.cluster)
    response = admin.patch(f"/api/v1/nodes/{node.pk}/", {"bird_socket_path": path}, format="json")
    assert_error(response, 400, field="bird_socket_path")


def test_the_allow_list_is_a_setting(world, settings):
    settings.FABRIC_BIRD_PATH_PREFIXES = ["/srv/bird/"]
    admin = world.client("admin")
    payload = {**NODE, "cluster": world.cluster.pk, "bird_config_path": "/srv/bird/bird.conf",
               "bird_socket_path": "/srv/bird/bird.ctl"}  # fmt: skip
    assert admin.post("/api/v1/nodes/", payload, format="json").status_code == 202
