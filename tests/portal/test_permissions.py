"""Every portal page, tried by every role (see tests/portal/pages.py)."""

import pytest

from tests.portal.pages import EVERYONE, OPERATORS, PLATFORM, TENANT_ROLES, PageTests

pytestmark = pytest.mark.django_db

TENANTS_AND_NOBODY = (*TENANT_ROLES, "nobody")


# --- operator pages ------------------------------------------------------------------------------


class TestDashboard(PageTests):
    writers = OPERATORS
    action_marker = 'id="new-cluster"'

    def url(self, world):
        return "/dashboard/"


class TestClusterList(PageTests):
    writers = OPERATORS
    action_marker = 'id="new-cluster"'

    def url(self, world):
        return "/clusters/"


class TestClusterDetail(PageTests):
    writers = OPERATORS
    read_only = ("auditor",)
    action_marker = 'id="cluster-actions"'

    def url(self, world):
        return f"/clusters/{world.cluster.pk}/"

    def post_url(self, world):
        return f"/clusters/{world.cluster.pk}/provision/"


class TestClusterTopology(PageTests):
    """The picture the cluster page polls: infrastructure, platform roles only."""

    def url(self, world):
        return f"/clusters/{world.cluster.pk}/topology/"


class TestClusterWizard(PageTests):
    """Only admins add devices (the wizard creates a border gateway and an RR): operators
    run the fabric but cannot set where and how the workers log in."""

    readers = ("admin",)
    forbidden = ("operator", "auditor", *TENANTS_AND_NOBODY)
    writers = ("admin",)

    def url(self, world):
        return "/clusters/new/bgp/"

    def post_url(self, world):
        return "/clusters/new/bgp/"


class TestNodeList(PageTests):
    def url(self, world):
        return "/nodes/"


class TestNodeDetail(PageTests):
    writers = OPERATORS
    read_only = ("auditor",)
    action_marker = 'id="node-drain"'

    def url(self, world):
        return f"/nodes/{world.node.pk}/"

    def post_url(self, world):
        return f"/nodes/{world.node.pk}/drain/"


class TestNodeUndrain(TestNodeDetail):
    def post_url(self, world):
        return f"/nodes/{world.node.pk}/undrain/"


class TestNodeCreate(PageTests):
    readers = ("admin",)
    forbidden = ("operator", "auditor", *TENANTS_AND_NOBODY)
    writers = ("admin",)

    def url(self, world):
        return f"/clusters/{world.cluster.pk}/nodes/new/"

    def post_url(self, world):
        return self.url(world)


class TestNodeRemove(PageTests):
    readers = OPERATORS
    forbidden = ("auditor", *TENANTS_AND_NOBODY)
    writers = OPERATORS

    def url(self, world):
        return f"/nodes/{world.node.pk}/remove/"

    def post_url(self, world):
        return self.url(world)


class TestRouteReflectorCreate(TestNodeCreate):
    def url(self, world):
        return f"/clusters/{world.cluster.pk}/route-reflectors/new/"


class TestRouteReflectorDetail(PageTests):
    writers = OPERATORS
    read_only = ("auditor",)
    action_marker = 'id="rr-remove"'

    def url(self, world):
        return f"/route-reflectors/{world.rr.pk}/"

    def post_url(self, world):
        return f"/route-reflectors/{world.rr.pk}/remove/"


class TestRouteReflectorRemove(TestNodeRemove):
    def url(self, world):
        return f"/route-reflectors/{world.rr.pk}/remove/"


class TestBorderGateway(PageTests):
    writers = OPERATORS
    read_only = ("auditor",)
    action_marker = 'id="dry-run"'

    def url(self, world):
        return f"/border-gateways/{world.bgw.pk}/"

    def post_url(self, world):
        return f"/border-gateways/{world.bgw.pk}/dry-run/"


class TestBorderGatewayApply(PageTests):
    readers = OPERATORS
    forbidden = ("auditor", *TENANTS_AND_NOBODY)
    writers = OPERATORS

    def url(self, world):
        return f"/border-gateways/{world.bgw.pk}/apply/"

    def post_url(self, world):
        return self.url(world)


class TestNodeJob(PageTests):
    """A platform job (no tenant): tenants do not see it at all."""

    forbidden = ("nobody",)
    not_found = TENANT_ROLES

    def url(self, world):
        return f"/jobs/{world.node_job.pk}/"


# --- pages of both audiences ---------------------------------------------------------------------


class TestJobList(PageTests):
    readers = EVERYONE
    forbidden = ("nobody",)

    def url(self, world):
        return "/jobs/"


class TestTenantJob(PageTests):
    readers = (*PLATFORM, "alice", "alice_ro")
    forbidden = ("nobody",)
    not_found = ("bob",)

    def url(self, world):
        return f"/jobs/{world.vm_job.pk}/"


class TestVmList(PageTests):
    readers = EVERYONE
    forbidden = ("nobody",)
    writers = (*OPERATORS, "alice", "bob")
    action_marker = 'id="order-vm"'

    def url(self, world):
        return "/vms/"


class TestVmDetail(PageTests):
    readers = (*PLATFORM, "alice", "alice_ro")
    forbidden = ("nobody",)
    not_found = ("bob",)
    writers = (*OPERATORS, "alice")
    read_only = ("auditor", "alice_ro")
    action_marker = 'id="vm-stop"'

    def url(self, world):
        return f"/vms/{world.vm_a.pk}/"

    def post_url(self, world):
        return f"/vms/{world.vm_a.pk}/stop/"


class TestVmStart(TestVmDetail):
    def post_url(self, world):
        return f"/vms/{world.vm_a.pk}/start/"


class TestVmDelete(PageTests):
    readers = (*OPERATORS, "alice")
    forbidden = ("auditor", "alice_ro", "nobody")
    not_found = ("bob",)
    writers = (*OPERATORS, "alice")

    def url(self, world):
        return f"/vms/{world.vm_a.pk}/delete/"

    def post_url(self, world):
        return self.url(world)

    def post_data(self, world):
        return {"confirm": "not-the-name"}


class TestVmOrder(PageTests):
    readers = (*OPERATORS, "alice", "bob")
    forbidden = ("auditor", "alice_ro", "nobody")
    writers = (*OPERATORS, "alice", "bob")

    def url(self, world):
        return "/vms/new/"

    def post_url(self, world):
        return self.url(world)


# --- the entrance --------------------------------------------------------------------------------


def test_home_sends_each_role_to_its_start_page(world):
    assert world.client("anonymous").get("/")["Location"].startswith("/login/")
    for who in PLATFORM:
        assert world.client(who).get("/")["Location"] == "/dashboard/", who
    for who in TENANT_ROLES:
        assert world.client(who).get("/")["Location"] == "/vms/", who
    assert world.client("nobody").get("/").status_code == 403


def test_login_and_logout(world):
    user = world.users["alice"]
    user.set_password("correct horse battery")
    user.save()
    client = world.client("anonymous")
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="username"' in page.content
    bad = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and b"form-errors" in bad.content
    good = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert good.status_code == 302 and good["Location"] == "/"
    assert client.get("/vms/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logging out is a POST (CSRF-protected)
    out = client.post("/logout/")
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert client.get("/vms/").status_code == 302


def test_forms_carry_the_csrf_token_and_htmx_sends_it(world):
    client = world.client("alice")
    client.handler.enforce_csrf_checks = True
    page = client.get(f"/vms/{world.vm_a.pk}/").content.decode()
    assert "csrfmiddlewaretoken" in page
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    refused = client.post(f"/vms/{world.vm_a.pk}/stop/")
    assert refused.status_code == 403  # no token, no action


def test_static_files_are_local(world):
    page = world.client("alice").get("/vms/").content.decode()
    assert "/static/vendor/htmx.min.js" in page and "/static/portal/portal.css" in page
    assert "http://" not in page and "https://" not in page
