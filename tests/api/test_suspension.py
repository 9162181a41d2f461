"""A suspended tenant (`Tenant.is_active` off) reads nothing and acts on nothing; removing a
member revokes the keys they made for that tenant."""

from django.test import Client

from apps.compute.models import VirtualMachine
from apps.tenancy.models import ApiKey, Membership
from apps.tenancy.services import api_key_create
from tests.api.conftest import assert_error, bearer
from tests.api.test_resources import order_running_vm
from tests.factories import make_membership, make_tenant, make_user


def suspend(tenant) -> None:
    tenant.is_active = False
    tenant.save()


def order(world, tenant):
    payload = {"name": "late", "plan": world.plan.pk, "cluster": world.cluster.pk,
               "tenant": tenant.pk}  # fmt: skip
    return payload


def test_a_suspended_tenants_keys_are_refused(world):
    vm = order_running_vm(world, tenant=world.tenant_b)
    b_key = world.client("b_key")
    assert b_key.get(f"/api/v1/vms/{vm.pk}/").status_code == 200
    suspend(world.tenant_b)
    error = assert_error(b_key.get("/api/v1/vms/"), 401, "authentication_failed")
    assert "suspended" in error["message"]
    assert_error(b_key.post(f"/api/v1/vms/{vm.pk}/stop/"), 401, "authentication_failed")
    assert_error(b_key.post("/api/v1/vms/", order(world, world.tenant_b), format="json"), 401)


def test_a_suspended_tenants_users_see_nothing_and_cannot_order(world):
    vm = order_running_vm(world, tenant=world.tenant_b)
    bob = world.client("bob")  # bob's user key
    session = Client()
    session.force_login(world.users["bob"])
    assert bob.get("/api/v1/vms/").json()["count"] == 1
    suspend(world.tenant_b)
    for client in (bob, session):  # bob has no role left: 403 (no role) or 404
        assert_error(client.get("/api/v1/vms/"), 403)
        assert client.get(f"/api/v1/vms/{vm.pk}/").status_code in (403, 404)
        assert_error(client.get("/api/v1/jobs/"), 403)
        assert client.post(f"/api/v1/vms/{vm.pk}/stop/").status_code in (403, 404)
        response = client.post("/api/v1/vms/", order(world, world.tenant_b),
                               content_type="application/json")  # fmt: skip
        assert response.status_code in (400, 403), response.content
    assert VirtualMachine.objects.filter(tenant=world.tenant_b).count() == 1
    assert session.get(f"/vms/{vm.pk}/").status_code in (403, 404)  # the portal too
    # Staff still see the suspended tenant's VMs (to clean up).
    assert world.client("operator").get(f"/api/v1/vms/{vm.pk}/").status_code == 200


def test_a_user_of_two_tenants_keeps_the_active_one(world):
    carol = make_user(username="carol")
    make_membership(user=carol, tenant=world.tenant_a, role="tenant_user")
    make_membership(user=carol, tenant=world.tenant_b, role="tenant_user")
    order_running_vm(world, tenant=world.tenant_a)
    order_running_vm(world, tenant=world.tenant_b)
    client = bearer(api_key_create(name="c", user=carol)[1])
    assert client.get("/api/v1/vms/").json()["count"] == 2
    suspend(world.tenant_b)
    listed = client.get("/api/v1/vms/").json()
    assert [vm["tenant"] for vm in listed["results"]] == [world.tenant_a.pk]


def test_removing_a_member_revokes_the_keys_they_made_for_that_tenant(world):
    alice = world.client("alice")
    made = alice.post("/api/v1/api-keys/",
                      {"name": "ci", "tenant": world.tenant_a.pk, "role": "tenant_user"},
                      format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    tenant_key = bearer(made.json()["key"])
    other = make_tenant(name="initech")
    kept = make_membership(user=world.users["alice"], tenant=other, role="tenant_user")
    other_key, other_secret = api_key_create(name="o", tenant=other, role="tenant_user",
                                             created_by=world.users["alice"])  # fmt: skip
    assert tenant_key.get("/api/v1/vms/").status_code == 200
    membership = Membership.objects.get(user=world.users["alice"], tenant=world.tenant_a)
    response = world.client("admin").delete(f"/api/v1/memberships/{membership.pk}/")
    assert response.status_code == 204
    assert_error(tenant_key.get("/api/v1/vms/"), 401, "authentication_failed")
    assert bearer(other_secret).get("/api/v1/vms/").status_code == 200  # another tenant's key
    assert alice.get("/api/v1/vms/").status_code == 200  # her user key still acts (for initech)
    # Losing the last membership revokes her personal keys too.
    kept.delete()
    assert_error(alice.get("/api/v1/vms/"), 401, "authentication_failed")
    assert_error(bearer(other_secret).get("/api/v1/vms/"), 401, "authentication_failed")
    assert not ApiKey.objects.filter(created_by=world.users["alice"], revoked_at=None).exists()
    other_key.refresh_from_db()
    assert other_key.revoked_at is not None
