"""The administration pages (tenants, memberships, plans, API keys), tried by every role
(see tests/portal/pages.py): admins manage tenants and memberships, admins and operators
plans, tenant users their own tenant's keys; another tenant's key answers 404."""

import pytest

from apps.tenancy.services import api_key_create, api_key_revoke, tenant_update
from tests.portal.pages import EVERYONE, OPERATORS, PLATFORM, TENANT_ROLES, PageTests

pytestmark = pytest.mark.django_db

ADMIN_ONLY = ("admin",)
NOT_ADMIN = ("operator", "auditor", *TENANT_ROLES, "nobody")
KEY_MAKERS = ("admin", "alice", "bob")


def key_of_tenant_a(world):
    """A tenant key of acme (made once per world)."""
    if not hasattr(world, "key_a"):
        world.key_a, _ = api_key_create(
            name="acme-billing", tenant=world.tenant_a, role="tenant_user"
        )
    return world.key_a


class TestTenantList(PageTests):
    writers = ADMIN_ONLY
    action_marker = 'id="new-tenant"'

    def url(self, world):
        return "/tenants/"


class TestTenantCreate(PageTests):
    readers = ADMIN_ONLY
    forbidden = NOT_ADMIN
    writers = ADMIN_ONLY

    def url(self, world):
        return "/tenants/new/"

    def post_url(self, world):
        return "/tenants/new/"

    def post_data(self, world):
        return {"name": "initech", "max_vms": "5", "is_active": "on"}


class TestTenantDetail(PageTests):
    writers = ADMIN_ONLY
    action_marker = 'id="tenant-actions"'

    def url(self, world):
        return f"/tenants/{world.tenant_a.pk}/"


class TestTenantEdit(TestTenantCreate):
    def url(self, world):
        return f"/tenants/{world.tenant_a.pk}/edit/"

    def post_url(self, world):
        return self.url(world)

    def post_data(self, world):
        return {"name": "acme", "max_vms": "7", "is_active": "on"}


class TestMembershipList(PageTests):
    writers = ADMIN_ONLY
    action_marker = 'id="add-member"'

    def url(self, world):
        return "/memberships/"


class TestMembershipCreate(TestTenantCreate):
    def url(self, world):
        return "/memberships/new/"

    def post_url(self, world):
        return "/memberships/new/"

    def post_data(self, world):
        return {"username": "carol", "tenant": str(world.tenant_a.pk), "role": "tenant_user"}


class TestMembershipRemove(TestTenantCreate):
    def url(self, world):
        membership = world.users["alice"].memberships.get()
        return f"/memberships/{membership.pk}/remove/"

    def post_url(self, world):
        return self.url(world)


class TestPlanList(PageTests):
    writers = OPERATORS
    action_marker = 'id="new-plan"'

    def url(self, world):
        return "/plans/"


class TestPlanCreate(PageTests):
    readers = OPERATORS
    forbidden = ("auditor", *TENANT_ROLES, "nobody")
    writers = OPERATORS

    def url(self, world):
        return "/plans/new/"

    def post_url(self, world):
        return "/plans/new/"

    def post_data(self, world):
        return {"name": "large", "kind": "vm", "vcpus": "4", "memory_mb": "8192", "disk_gb": "80"}


class TestPlanEdit(TestPlanCreate):
    def url(self, world):
        return f"/plans/{world.plan.pk}/edit/"

    def post_url(self, world):
        return self.url(world)


class TestApiKeyList(PageTests):
    readers = EVERYONE
    forbidden = ("nobody",)
    writers = KEY_MAKERS
    action_marker = 'id="new-api-key"'

    def url(self, world):
        return "/api-keys/"


class TestApiKeyCreate(PageTests):
    readers = KEY_MAKERS
    forbidden = ("operator", "auditor", "alice_ro", "nobody")
    writers = KEY_MAKERS

    def url(self, world):
        return "/api-keys/new/"

    def post_url(self, world):
        return "/api-keys/new/"

    def post_data(self, world):
        return {"name": "billing", "tenant": str(world.tenant_a.pk), "role": "tenant_user"}


class TestApiKeyRevoke(PageTests):
    readers = ("admin", "alice")
    forbidden = ("operator", "auditor", "alice_ro", "nobody")
    not_found = ("bob",)
    writers = ("admin", "alice")

    def url(self, world):
        return f"/api-keys/{key_of_tenant_a(world).pk}/revoke/"

    def post_url(self, world):
        return self.url(world)


def test_the_navigation_leads_to_the_new_pages(world):
    for who in PLATFORM:
        page = world.client(who).get("/dashboard/").content.decode()
        assert 'href="/tenants/"' in page and 'href="/plans/"' in page
        assert 'href="/api-keys/"' in page
    tenant_page = world.client("alice").get("/vms/").content.decode()
    assert 'href="/api-keys/"' in tenant_page and 'href="/tenants/"' not in tenant_page


def rows_of(page: str, names) -> set[str]:
    return {name for name in names if f">{name}<" in page}


def test_the_admin_lists_filter_with_their_models_filtersets(world):
    """The lists take the same filters as the API (`is_active`, `revoked`, `tenant`, `q`)."""
    tenant_update(world.tenant_b, is_active=False)
    admin = world.client("admin")
    active = admin.get("/tenants/?is_active=true").content.decode()
    suspended = admin.get("/tenants/?is_active=false").content.decode()
    assert rows_of(active, ["acme", "globex"]) == {"acme"}
    assert rows_of(suspended, ["acme", "globex"]) == {"globex"}
    assert rows_of(admin.get("/tenants/?q=glob").content.decode(), ["acme", "globex"]) == {"globex"}

    kept, _ = api_key_create(name="kept-key", tenant=world.tenant_a, role="tenant_user")
    gone, _ = api_key_create(name="gone-key", tenant=world.tenant_b, role="tenant_user")
    api_key_revoke(api_key=gone)
    names = ["kept-key", "gone-key"]
    assert rows_of(admin.get("/api-keys/?revoked=false").content.decode(), names) == {"kept-key"}
    assert rows_of(admin.get("/api-keys/?revoked=true").content.decode(), names) == {"gone-key"}
    by_tenant = admin.get(f"/api-keys/?tenant={world.tenant_b.pk}").content.decode()
    assert rows_of(by_tenant, names) == {"gone-key"}
    # A bad value is ignored on a page (the API answers 400), never a 500.
    assert admin.get("/api-keys/?tenant=abc").status_code == 200
