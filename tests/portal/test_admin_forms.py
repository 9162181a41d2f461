"""What the administration pages do: tenants and plans with the model's rules and maxima,
members invited with a role (a new user's password shown once), memberships removed after
confirmation, API keys whose secret is shown once. Bad input is a field error, never a 500,
and nothing is half-made."""

import html

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.compute.models import Plan
from apps.tenancy.models import ApiKey, Membership, Tenant
from apps.tenancy.services import api_key_create, api_key_hash
from tests.factories import make_membership, make_user

pytestmark = pytest.mark.django_db


def field_errors(response, field: str) -> str:
    page = response.content.decode()
    marker = f'id="id_{field}-errors"'
    return html.unescape(page.split(marker, 1)[1].split("</ul>", 1)[0]) if marker in page else ""


def pre(response, element_id: str) -> str:
    page = response.content.decode()
    return html.unescape(page.split(f'<pre class="wrap" id="{element_id}">', 1)[1].split("<")[0])


# --- tenants -------------------------------------------------------------------------------------


def test_an_admin_creates_a_tenant_and_is_told_what_next(world):
    client = world.client("admin")

    response = client.post(
        "/tenants/new/", {"name": "initech", "description": "TPS reports", "max_vms": "12",
                          "is_active": "on"}
    )  # fmt: skip

    tenant = Tenant.objects.get(name="initech")
    assert (tenant.max_vms, tenant.is_active, tenant.description) == (12, True, "TPS reports")
    assert (
        response.status_code == 302 and response["Location"] == f"/tenants/{tenant.pk}/?created=1"
    )
    page = client.get(response["Location"]).content.decode()
    assert 'id="next-step"' in page and f"/memberships/new/?tenant={tenant.pk}" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "bigco", "max_vms": "100001"}, "max_vms", "At most 100000 VMs."),
        ({"name": "bigco", "max_vms": "-1"}, "max_vms", "greater than or equal to 0"),
        ({"name": "bigco", "max_vms": "many"}, "max_vms", "whole number"),
        ({"name": "", "max_vms": "5"}, "name", "required"),
        ({"name": "big co;", "max_vms": "5"}, "name", ""),
        ({"name": "acme", "max_vms": "5"}, "name", "already exists"),
        ({"name": "x" * 64, "max_vms": "5"}, "name", "at most 63"),
        ({"name": "bigco", "max_vms": "5", "description": "line\nbreak"}, "description", ""),
    ],
)
def test_a_bad_tenant_is_a_field_error_and_nothing_is_saved(world, data, field, message):
    before = Tenant.objects.count()

    response = world.client("admin").post("/tenants/new/", data)

    assert response.status_code == 400
    errors = field_errors(response, field)
    assert errors and message in errors, (field, errors)
    assert Tenant.objects.count() == before


def test_the_tenant_form_states_the_api_maximum(world):
    page = world.client("admin").get("/tenants/new/").content.decode()

    assert 'max="100000"' in page


def test_an_admin_edits_a_tenants_quota_and_suspends_it(world):
    url = f"/tenants/{world.tenant_a.pk}/edit/"

    response = world.client("admin").post(url, {"name": "acme", "max_vms": "3"})

    assert response.status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.max_vms == 3 and world.tenant_a.is_active is False
    bad = world.client("admin").post(url, {"name": "globex", "max_vms": "1000000"})
    assert bad.status_code == 400 and "At most 100000 VMs." in field_errors(bad, "max_vms")
    assert "already exists" in field_errors(bad, "name")
    assert "<h1>Edit tenant acme</h1>" in bad.content.decode()
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.max_vms == 3


def test_an_unknown_tenant_is_404(world):
    for url in ("/tenants/999999/", "/tenants/999999/edit/"):
        assert world.client("admin").get(url).status_code == 404


def test_the_tenant_page_lists_its_members_and_keys_and_not_others(world):
    api_key_create(name="acme-billing", tenant=world.tenant_a, role="tenant_user")
    api_key_create(name="globex-billing", tenant=world.tenant_b, role="tenant_user")

    page = world.client("admin").get(f"/tenants/{world.tenant_a.pk}/").content.decode()

    assert "alice" in page and "acme-billing" in page
    assert "bob" not in page and "globex-billing" not in page


# --- plans ---------------------------------------------------------------------------------------


def test_an_operator_creates_and_edits_a_plan(world):
    client = world.client("operator")
    data = {"name": "large", "kind": "container", "vcpus": "4", "memory_mb": "8192",
            "disk_gb": "80", "is_active": "on"}  # fmt: skip

    assert client.post("/plans/new/", data).status_code == 302
    plan = Plan.objects.get(name="large")
    assert (plan.kind, plan.vcpus, plan.memory_mb, plan.disk_gb) == ("container", 4, 8192, 80)

    response = client.post(f"/plans/{plan.pk}/edit/", {**data, "vcpus": "8", "is_active": ""})

    assert response.status_code == 302 and response["Location"] == "/plans/"
    plan.refresh_from_db()
    assert plan.vcpus == 8 and plan.is_active is False


GOOD_PLAN = {"name": "large", "kind": "vm", "vcpus": "4", "memory_mb": "8192", "disk_gb": "80"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vcpus": "0"}, "vcpus"),
        ({"vcpus": "two"}, "vcpus"),
        ({"memory_mb": "10"}, "memory_mb"),
        ({"disk_gb": "0"}, "disk_gb"),
        ({"disk_gb": ""}, "disk_gb"),
        ({"kind": "unikernel"}, "kind"),
        ({"name": "small"}, "name"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_a_bad_plan_is_a_field_error_and_nothing_is_saved(world, change, field):
    response = world.client("admin").post("/plans/new/", {**GOOD_PLAN, **change})

    assert response.status_code == 400
    assert field_errors(response, field), field
    assert (
        not Plan.objects.filter(name=change.get("name", "large")).exclude(pk=world.plan.pk).exists()
    )


def test_a_bad_edit_leaves_the_plan_as_it_was(world):
    response = world.client("admin").post(
        f"/plans/{world.plan.pk}/edit/", {**GOOD_PLAN, "name": "small", "vcpus": "0"}
    )

    assert response.status_code == 400 and field_errors(response, "vcpus")
    world.plan.refresh_from_db()
    assert world.plan.vcpus != 0


# --- memberships ---------------------------------------------------------------------------------


def test_inviting_a_new_user_shows_their_password_once_and_it_works(world):
    response = world.client("admin").post(
        "/memberships/new/",
        {"username": "carol", "email": "carol@example.net", "tenant": world.tenant_a.pk,
         "role": "tenant_user"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = pre(response, "new-password")
    carol = get_user_model().objects.get(username="carol")
    assert carol.email == "carol@example.net" and carol.check_password(password)
    assert Membership.objects.filter(user=carol, tenant=world.tenant_a, role="tenant_user").exists()
    client = Client()
    login = client.post("/login/", {"username": "carol", "password": password})
    assert login.status_code == 302, login.content.decode()[-1000:]
    assert client.get("/vms/").status_code == 200
    # The password is not shown anywhere again.
    for url in (f"/tenants/{world.tenant_a.pk}/", "/memberships/"):
        assert password not in world.client("admin").get(url).content.decode()


def test_inviting_an_existing_user_keeps_their_password(world):
    response = world.client("admin").post(
        "/memberships/new/", {"username": "bob", "tenant": world.tenant_a.pk, "role": "read_only"}
    )

    assert response.status_code == 200 and 'id="new-password"' not in response.content.decode()
    assert Membership.objects.filter(user=world.users["bob"], tenant=world.tenant_a).exists()


def test_a_platform_operator_is_invited_without_a_tenant(world):
    response = world.client("admin").post(
        "/memberships/new/", {"username": "dave", "tenant": "", "role": "operator"}
    )

    assert response.status_code == 200
    assert Membership.objects.get(user__username="dave").tenant is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "erin", "role": "operator", "tenant": "TENANT"}, "tenant"),
        ({"username": "erin", "role": "tenant_user", "tenant": ""}, "tenant"),
        ({"username": "erin", "role": "owner", "tenant": ""}, "role"),
        ({"username": "erin smith", "role": "tenant_user", "tenant": "TENANT"}, "username"),
        ({"username": "", "role": "tenant_user", "tenant": "TENANT"}, "username"),
        ({"username": "erin", "role": "tenant_user", "tenant": "999999"}, "tenant"),
        ({"username": "erin", "email": "not-mail", "role": "tenant_user", "tenant": "TENANT"},
         "email"),
        ({"username": "alice", "role": "tenant_user", "tenant": "TENANT"}, "username"),
        ({"username": "ops", "role": "admin", "tenant": ""}, "username"),
    ],
)  # fmt: skip
def test_a_bad_membership_is_a_field_error_and_creates_no_user(world, data, field):
    data = {k: str(world.tenant_a.pk) if v == "TENANT" else v for k, v in data.items()}
    users, memberships = get_user_model().objects.count(), Membership.objects.count()

    response = world.client("admin").post("/memberships/new/", data)

    assert response.status_code == 400
    assert field_errors(response, field), (field, response.content.decode()[-2000:])
    assert get_user_model().objects.count() == users
    assert Membership.objects.count() == memberships


def test_removing_a_membership_asks_then_revokes_the_keys_it_gave(world):
    alice = world.users["alice"]
    membership = alice.memberships.get()
    made, _ = api_key_create(
        name="alice-made", tenant=world.tenant_a, role="tenant_user", created_by=alice
    )
    other, _ = api_key_create(name="admin-made", tenant=world.tenant_a, role="tenant_user")
    url = f"/memberships/{membership.pk}/remove/"
    client = world.client("admin")

    page = client.get(url).content.decode()
    assert "1 API key" in page and "last membership" in page
    assert Membership.objects.filter(pk=membership.pk).exists()

    response = client.post(url)

    assert response.status_code == 302 and response["Location"] == f"/tenants/{world.tenant_a.pk}/"
    assert not Membership.objects.filter(pk=membership.pk).exists()
    made.refresh_from_db(), other.refresh_from_db()
    assert made.revoked_at is not None and other.revoked_at is None
    assert world.client("alice").get("/vms/").status_code == 403


def test_an_admin_cannot_remove_their_own_admin_membership(world):
    chief = make_user(username="chief")
    own = make_membership(user=chief, role="admin")
    client = Client()
    client.force_login(chief)

    response = client.post(f"/memberships/{own.pk}/remove/")

    assert response.status_code == 400 and "your own administrator" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_removing_an_unknown_membership_is_404(world):
    assert world.client("admin").post("/memberships/999999/remove/").status_code == 404


# --- API keys ------------------------------------------------------------------------------------


def test_a_tenant_user_makes_a_key_for_their_tenant_and_sees_the_secret_once(world):
    client = world.client("alice")

    response = client.post(
        "/api-keys/new/", {"name": "billing", "tenant": world.tenant_a.pk, "role": "read_only"}
    )

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = pre(response, "api-key-secret")
    key = ApiKey.objects.get(name="billing")
    assert key.hashed_key == api_key_hash(secret)
    assert (key.tenant, key.role, key.user, key.created_by) == (
        world.tenant_a,
        "read_only",
        None,
        world.users["alice"],
    )
    listed = client.get("/api-keys/").content.decode()
    assert key.prefix in listed and secret not in listed
    answer = Client().get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert [vm["name"] for vm in answer.json()["results"]] == ["web-a"]


def test_a_tenant_user_cannot_make_a_key_for_another_tenant(world):
    response = world.client("alice").post(
        "/api-keys/new/", {"name": "sneaky", "tenant": world.tenant_b.pk, "role": "tenant_user"}
    )

    assert response.status_code == 400 and field_errors(response, "tenant")
    assert not ApiKey.objects.exists()
    form = world.client("alice").get("/api-keys/new/").content.decode()
    assert "globex" not in form and 'name="user"' not in form


def test_a_tenant_user_sees_only_their_tenants_keys(world):
    mine, _ = api_key_create(name="acme-billing", tenant=world.tenant_a, role="tenant_user")
    theirs, _ = api_key_create(name="globex-billing", tenant=world.tenant_b, role="tenant_user")
    admins, _ = api_key_create(name="root-automation", user=world.users["admin"])

    page = world.client("alice").get("/api-keys/").content.decode()
    assert mine.prefix in page and theirs.prefix not in page and admins.prefix not in page
    assert f"/api-keys/{mine.pk}/revoke/" in page
    read_only = world.client("alice_ro").get("/api-keys/").content.decode()
    assert mine.prefix in read_only and "/revoke/" not in read_only
    # Another tenant's key: 404 on its revoke page, and it stays active.
    for method in ("get", "post"):
        assert (
            getattr(world.client("alice"), method)(f"/api-keys/{theirs.pk}/revoke/").status_code
            == 404
        )
    assert world.client("alice").post(f"/api-keys/{admins.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_asks_first_then_the_key_is_refused(world):
    key, secret = api_key_create(name="acme-billing", tenant=world.tenant_a, role="tenant_user")
    url = f"/api-keys/{key.pk}/revoke/"
    client = world.client("alice")

    assert "Revoke acme-billing" in client.get(url).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None

    response = client.post(url)

    assert response.status_code == 302 and response["Location"] == "/api-keys/"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client().get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_an_admin_makes_a_user_key(world):
    response = world.client("admin").post(
        "/api-keys/new/", {"name": "automation", "tenant": "", "role": "tenant_user", "user": "ops"}
    )

    assert response.status_code == 200
    key = ApiKey.objects.get(name="automation")
    assert key.user == world.users["operator"] and key.tenant is None and key.role == ""
    secret = pre(response, "api-key-secret")
    answer = Client().get("/api/v1/nodes/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "tenant": "", "user": ""}, "tenant"),
        ({"name": "x", "tenant": "TENANT", "user": "ops"}, "user"),
        ({"name": "x", "tenant": "", "user": "ghost"}, "user"),
        ({"name": "", "tenant": "TENANT"}, "name"),
        ({"name": "bad\nname", "tenant": "TENANT"}, "name"),
        ({"name": "x" * 64, "tenant": "TENANT"}, "name"),
        ({"name": "x", "tenant": "TENANT", "role": "admin"}, "role"),
        ({"name": "x", "tenant": "999999"}, "tenant"),
        ({"name": "x", "tenant": "abc"}, "tenant"),
    ],
)
def test_a_bad_key_is_a_field_error_and_makes_no_key(world, data, field):
    data = {"role": "tenant_user", **data}
    data = {k: str(world.tenant_a.pk) if v == "TENANT" else v for k, v in data.items()}

    response = world.client("admin").post("/api-keys/new/", data)

    assert response.status_code == 400
    assert field_errors(response, field), (field, response.content.decode()[-2000:])
    assert not ApiKey.objects.exists()
