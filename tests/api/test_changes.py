"""The change log as an API resource: who (user, API key, or "system"), when, which object,
fields old -> new with secrets masked; tenants read their own objects' changes only."""

from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from apps.billing.services import webhook_endpoint_create
from apps.changes.models import ObjectChange
from apps.compute.models import VirtualMachine
from apps.tenancy.models import ApiKey
from tests.api.resource import ResourceTests
from tests.api.test_resources import order_running_vm
from tests.factories import make_node, make_rr

PATH = "/api/v1/changes/"


def changes_of(obj) -> list[ObjectChange]:
    content_type = ContentType.objects.get_for_model(obj)
    return list(ObjectChange.objects.filter(content_type=content_type, object_id=obj.pk))


def listed(client, **params) -> list[dict]:
    response = client.get(PATH, {"page_size": 1000, **params})
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


class TestChanges(ResourceTests):
    path = PATH
    outsider = "bob"
    can_create = can_update = can_delete = False

    def make(self, world):
        return changes_of(order_running_vm(world))[0]


def test_an_api_write_records_the_user_and_the_key(world):
    vm = order_running_vm(world)
    response = world.client("alice").patch(f"/api/v1/vms/{vm.pk}/", {"description": "web"})
    assert response.status_code == 200
    change = listed(world.client("operator"), object_type="compute.virtualmachine",
                    object_id=vm.pk)[0]  # fmt: skip
    alice_key = ApiKey.objects.get(user=world.users["alice"])
    assert change["action"] == "update"
    assert change["user"] == {"id": world.users["alice"].pk, "username": "alice"}
    assert change["api_key"]["id"] == alice_key.pk
    assert change["changes"] == {"description": ["", "web"]}
    assert change["who"] == "alice"


def test_a_tenant_key_write_records_the_key_without_a_user(world):
    vm = order_running_vm(world, tenant=world.tenant_b)
    response = world.client("b_key").patch(f"/api/v1/vms/{vm.pk}/", {"description": "by key"})
    assert response.status_code == 200
    change = listed(world.client("admin"), object_type="compute.virtualmachine",
                    object_id=vm.pk)[0]  # fmt: skip
    key = ApiKey.objects.get(name="bk")
    assert change["user"] is None
    assert change["api_key"] == {"id": key.pk, "name": "bk", "prefix": key.prefix}
    assert change["who"] == f"API key {key.prefix}…"
    assert listed(world.client("admin"), api_key=key.pk)[0]["id"] == change["id"]


def test_a_session_write_records_the_user_and_no_key(world):
    client = APIClient()
    client.force_login(world.users["operator"])
    assert client.patch(f"/api/v1/plans/{world.plan.pk}/", {"description": "s"}).status_code == 200
    change = listed(client, object_type="compute.plan", object_id=world.plan.pk)[0]
    assert change["user"]["username"] == "ops" and change["api_key"] is None
    assert [c["id"] for c in listed(client, user=world.users["operator"].pk)] == [change["id"]]


def test_worker_writes_are_system_and_update_fields_saves_are_recorded(world):
    node = make_node(cluster=world.cluster, ssh_host_key="")  # not contacted yet
    node.ssh_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFirstSeenKey"
    node.save(update_fields=["ssh_host_key"])  # what a worker does on first contact
    rows = listed(world.client("operator"), object_type="fabric.node", object_id=node.pk)
    assert rows[0]["action"] == "update" and rows[0]["who"] == "system"
    assert rows[0]["user"] is None and rows[0]["api_key"] is None
    assert rows[0]["changes"] == {"ssh_host_key": ["", node.ssh_host_key]}
    assert rows[-1]["action"] == "create"


def test_secrets_are_masked_in_the_log(world):
    rr = make_rr(cluster=world.cluster)
    rr.ssh_password = "hunter2-root-password"
    rr.ssh_private_key = "-----BEGIN OPENSSH PRIVATE KEY----- material"
    rr.save()
    webhook_endpoint_create(name="b", url="https://b.example.net/", secret="whsec_" + "s" * 30)
    rows = listed(world.client("admin"))
    rr_change = next(r for r in rows if r["object_type"] == "fabric.routereflector"
                     and r["action"] == "update")  # fmt: skip
    assert rr_change["changes"]["ssh_password"] == ["", "********"]
    assert rr_change["changes"]["ssh_private_key"][1] == "********"  # changed, not shown
    hook = next(r for r in rows if r["object_type"] == "billing.webhookendpoint")
    assert hook["changes"]["secret"] == ["", "********"]
    key = next(r for r in rows if r["object_type"] == "tenancy.apikey")
    assert key["changes"]["hashed_key"] == ["", "********"]
    stored = str(list(ObjectChange.objects.values_list("changes", "changes_text")))
    for secret in (
        "hunter2",
        "PRIVATE KEY",
        "whsec_",
        *ApiKey.objects.values_list("hashed_key", flat=True),
    ):
        assert secret not in stored, secret


def test_tenants_read_only_their_objects_and_never_the_infrastructure(world):
    vm = order_running_vm(world)
    other = order_running_vm(world, tenant=world.tenant_b)
    node = make_node(cluster=world.cluster)
    VirtualMachine.objects.filter(pk=vm.pk).update(node=None, state="ordered")
    vm.refresh_from_db()
    vm.node, vm.vnet_name, vm.description = node, "vnet9", "moved"
    vm.save(update_fields=["node", "vnet_name", "description"])
    staff = listed(world.client("operator"), object_type="compute.virtualmachine", object_id=vm.pk)
    assert set(staff[0]["changes"]) == {"node", "vnet_name", "description"}
    for who in ("alice", "alice_ro"):
        rows = listed(world.client(who))
        types = {r["object_type"] for r in rows}
        assert types <= {"compute.virtualmachine", "tenancy.tenant", "tenancy.membership",
                         "tenancy.apikey"}, (who, types)  # fmt: skip
        assert all(r["tenant"] == world.tenant_a.pk for r in rows), who
        assert other.pk not in {
            r["object_id"] for r in rows if "virtualmachine" in r["object_type"]
        }
        mine = listed(world.client(who), object_type="compute.virtualmachine", object_id=vm.pk)
        assert mine[0]["changes"] == {"description": ["", "moved"]}, who
        assert "remote_addr" not in mine[0]
        assert listed(world.client(who), object_type="fabric.node") == [], who
        assert listed(world.client(who), object_type="fabric.cluster") == [], who
        node_change = changes_of(node)[0]
        assert world.client(who).get(f"{PATH}{node_change.pk}/").status_code == 404


def test_the_log_is_read_only_and_bad_filters_name_the_parameter(world):
    change = changes_of(order_running_vm(world))[0]
    admin = world.client("admin")
    assert admin.patch(f"{PATH}{change.pk}/", {"object_repr": "x"}).status_code == 405
    assert admin.delete(f"{PATH}{change.pk}/").status_code == 405
    for params, name in (({"object_type": "nope"}, "object_type"), ({"user": "x"}, "user"),
                         ({"since": "yesterday"}, "since")):  # fmt: skip
        response = admin.get(PATH, params)
        assert response.status_code == 400, params
        assert name in response.json()["error"]["fields"]


def test_state_changes_made_by_people_are_recorded(world):
    node = make_node(cluster=world.cluster, state="ready")
    operator = world.client("operator")
    assert operator.post(f"/api/v1/nodes/{node.pk}/drain/").status_code == 200
    rows = listed(operator, object_type="fabric.node", object_id=node.pk)
    assert rows[0]["changes"] == {"state": ["ready", "draining"]}
    assert rows[0]["user"]["username"] == "ops"

    key = ApiKey.objects.get(user=world.users["bob"])
    assert world.client("admin").delete(f"/api/v1/api-keys/{key.pk}/").status_code == 204
    rows = listed(world.client("admin"), object_type="tenancy.apikey", object_id=key.pk)
    assert list(rows[0]["changes"]) == ["revoked_at"] and rows[0]["user"]["username"] == "root"


def test_a_create_lists_the_objects_own_fields_only(world):
    rows = listed(world.client("admin"), object_type="tenancy.tenant",
                  object_id=world.tenant_a.pk)  # fmt: skip
    assert rows[-1]["action"] == "create"
    assert "name" in rows[-1]["changes"] and "virtual_machines" not in rows[-1]["changes"]


def test_the_admin_lists_the_changes_read_only(world, client):
    change = changes_of(order_running_vm(world))[0]
    client.force_login(world.users["admin"])
    listing = client.get("/admin/changes/objectchange/")
    assert listing.status_code == 200 and change.object_repr in listing.content.decode()
    assert client.get(f"/admin/changes/objectchange/{change.pk}/change/").status_code == 200
    assert client.get("/admin/changes/objectchange/add/").status_code == 403
