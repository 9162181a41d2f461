"""Every portal page at phone size (390×844, Chromium): nothing scrolls sideways but inside
its own box, and the header's links stay on screen. Staff and tenant pages, detail pages
with data (the portal tests' world, from the factories), forms with their errors, the
cluster wizard's four steps, the 403 and 404 pages. A screenshot of each goes to
test-artifacts/screenshots/mobile-<page>.png.

The portal's URL names are checked against the pages visited here: a new page fails this
test until it is added to `pages()` (or, for a POST-only action or an htmx part, to
`NOT_PAGES`).
"""

import pytest

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress
from apps.jobs.models import Job
from apps.portal.urls import urlpatterns
from apps.tenancy.models import Membership
from apps.tenancy.services import api_key_create
from tests.browser.conftest import PASSWORD, login, logout, screenshot
from tests.factories import TEST_HOST_KEY, TEST_SSH_KEY, make_network, make_pool
from tests.portal.conftest import make_job, make_world

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# URL names that are no page of their own: POST-only actions, redirects, htmx parts.
NOT_PAGES = {
    "home", "logout", "cluster_wizard_cancel", "cluster_provision", "node_drain",
    "node_undrain", "bgw_dry_run", "bgw_dry_run_result", "job_retry", "job_acknowledge",
    "jobs_indicator", "cluster_topology", "vm_start", "vm_stop",
}  # fmt: skip

WIZARD = {
    "bgp": {
        "cluster-name": "ams1", "cluster-bgp_asn": "65010", "cluster-bgp_community": "65010:100",
        "bgw-name": "mx-ams", "bgw-peering_ip": "10.9.0.1", "bgw-mgmt_host": "mx.example.net",
        "bgw-username": "netops", "bgw-password": "s3cret-junos", "bgw-ssh_host_key": TEST_HOST_KEY,
    },
    "route-reflector": {
        "rr-name": "rr-ams1", "rr-peering_ip": "10.9.0.2", "rr-ssh_private_key": TEST_SSH_KEY,
        "rr-ssh_host_key": TEST_HOST_KEY, "rr-bird_config_path": "/etc/bird/bird.conf",
        "rr-bird_socket_path": "/run/bird/bird.ctl",
    },
    "networks": {
        "net-ipv4_prefix": "198.51.100.0/24", "net-ipv4_first": "198.51.100.10",
        "net-ipv4_last": "198.51.100.200",
    },
}  # fmt: skip


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def busy_world():
    """The portal tests' world, with what makes pages wide: long names and errors, an IPv6
    address, job steps with output, a border gateway dry run with a diff, a failed job."""
    world = make_world()
    for user in world.users.values():
        user.set_password(PASSWORD)
        user.save()
    v6 = make_pool(network=make_network(cluster=world.cluster, prefix="2001:db8:1234::/48"),
                   first="2001:db8:1234::10", last="2001:db8:1234::ffff")  # fmt: skip
    IPAddress.objects.create(pool=v6, address="2001:db8:1234:5678:9abc:def0:1234:5678", family=6,
                             status=IPAddress.Status.ALLOCATED, vm=world.vm_a)  # fmt: skip
    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(
        description="The primary database of the shop, with a description long enough to wrap"
    )
    steps = [("ip_allocate", "succeeded", "addresses: 203.0.113.10"),
             ("place", "failed", "NoCapacity: " + "no node has room " * 12)]  # fmt: skip
    failed = make_job(
        kind="vm_create", target=world.vm_a, tenant=world.tenant_a, state="failed", steps=steps
    )
    Job.objects.filter(pk=failed.pk).update(
        error="step place failed: NoCapacity: " + "a-very-long-unbroken-token-" * 6
    )
    make_job(kind="node_add", target=world.node, state="running", steps=[
        ("node_connect", "succeeded", "connected to 10.1.0.1:22"),
        ("node_apply_bird", "succeeded", "protocol bgp rr_10_2_0_1 { " + "x" * 300 + " }"),
        ("node_verify_sessions", "running", ""),
    ])  # fmt: skip
    make_job(kind="border_gateway_preview", target=world.bgw, steps=[
        ("bgw_render", "succeeded", "set protocols bgp group VM neighbor 10.2.0.1"),
        ("bgw_compare", "succeeded",
         "[edit protocols bgp group FABRIC-fra1]\n+    neighbor 10.2.0.1 { description "
         "route-reflector-with-a-long-description-that-does-not-wrap; }"),
    ])  # fmt: skip
    api_key_create(name="billing-sync", tenant=world.tenant_a, role="tenant_user",
                   created_by=world.users["alice"])  # fmt: skip
    return world, failed


def pages(world, failed) -> dict[str, list[tuple[str, str]]]:
    """URL name → [(screenshot name, path)] of the staff pages."""
    node, rr, bgw, vm, cluster = world.node, world.rr, world.bgw, world.vm_a, world.cluster
    tenant, key = world.tenant_a, world.tenant_a.api_keys.get()
    member = Membership.objects.get(user=world.users["alice"])
    return {
        "dashboard": [("dashboard", "/dashboard/")],
        "clusters": [("clusters", "/clusters/")],
        "cluster": [("cluster", f"/clusters/{cluster.pk}/")],
        "cluster_wizard": [],  # walked step by step in the test
        "node_create": [("node-create", f"/clusters/{cluster.pk}/nodes/new/")],
        "rr_create": [("rr-create", f"/clusters/{cluster.pk}/route-reflectors/new/")],
        "nodes": [("nodes", "/nodes/")],
        "node": [("node", f"/nodes/{node.pk}/")],
        "node_remove": [("node-remove", f"/nodes/{node.pk}/remove/")],
        "rr": [("rr", f"/route-reflectors/{rr.pk}/")],
        "rr_remove": [("rr-remove", f"/route-reflectors/{rr.pk}/remove/")],
        "bgw": [("bgw", f"/border-gateways/{bgw.pk}/")],
        "bgw_apply": [("bgw-apply", f"/border-gateways/{bgw.pk}/apply/")],
        "jobs": [("jobs", "/jobs/")],
        "job": [("job-failed", f"/jobs/{failed.pk}/"), ("job", f"/jobs/{world.node_job.pk}/")],
        "vms": [("vms", "/vms/")],
        "vm_order": [("vm-order", "/vms/new/")],
        "vm": [("vm", f"/vms/{vm.pk}/")],
        "vm_delete": [("vm-delete", f"/vms/{vm.pk}/delete/")],
        "login": [],  # seen before logging in
        "cluster_edit": [("cluster-edit", f"/clusters/{cluster.pk}/edit/")],
        "node_edit": [("node-edit", f"/nodes/{node.pk}/edit/")],
        "rr_edit": [("rr-edit", f"/route-reflectors/{rr.pk}/edit/")],
        "bgw_edit": [("bgw-edit", f"/border-gateways/{bgw.pk}/edit/")],
        "tenants": [("tenants", "/tenants/")],
        "tenant_create": [("tenant-create", "/tenants/new/")],
        "tenant": [("tenant", f"/tenants/{tenant.pk}/")],
        "tenant_edit": [("tenant-edit", f"/tenants/{tenant.pk}/edit/")],
        "memberships": [("memberships", "/memberships/")],
        "membership_create": [("membership-create", "/memberships/new/")],
        "membership_remove": [("membership-remove", f"/memberships/{member.pk}/remove/")],
        "plans": [("plans", "/plans/")],
        "plan_create": [("plan-create", "/plans/new/")],
        "plan_edit": [("plan-edit", f"/plans/{world.plan.pk}/edit/")],
        "api_keys": [("api-keys", "/api-keys/")],
        "api_key_create": [("api-key-create", "/api-keys/new/")],
        "api_key_revoke": [("api-key-revoke", f"/api-keys/{key.pk}/revoke/")],
    }


def assert_fits(page, name: str) -> None:
    """No sideways scroll of the page at 390 px; every header link on screen."""
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"mobile-{name}")
    if width > PHONE["width"]:
        wide = page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > limit + 0.5)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                + Math.round(e.getBoundingClientRect().right))""",
            PHONE["width"],
        )
        raise AssertionError(f"{name} ({page.url}): scrollWidth {width} > 390; too wide: {wide}")
    for link in page.locator("header a, header button").all():
        assert link.is_visible(), (name, link.inner_text())
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)


def test_every_page_fits_a_phone_without_sideways_scrolling(live_server, phone):
    world, failed = busy_world()
    staff_pages = pages(world, failed)
    names = {pattern.name for pattern in urlpatterns}
    missing = names - set(staff_pages) - NOT_PAGES
    assert not missing, f"add these portal pages to pages() (or NOT_PAGES): {sorted(missing)}"
    base = live_server.url

    phone.goto(f"{base}/login/")
    assert_fits(phone, "login")
    login(phone, live_server, "root")  # an admin: every page, the device forms too
    for name, path in (entry for entries in staff_pages.values() for entry in entries):
        response = phone.goto(f"{base}{path}")
        assert response.status == 200, (name, response.status)
        assert_fits(phone, name)
    # a job list with a running job and the header's count in it
    assert phone.locator("#jobs-indicator").is_visible()

    # a form with its errors
    phone.goto(f"{base}/clusters/{world.cluster.pk}/nodes/new/")
    phone.click("button:has-text('Add the node')")
    assert_fits(phone, "node-create-errors")

    # the cluster wizard, step by step, to its review (the Junos and bird.conf previews)
    for step, fields in WIZARD.items():
        phone.goto(f"{base}/clusters/new/{step}/")
        assert_fits(phone, f"wizard-{step}")
        for field, value in fields.items():
            if phone.locator(f"#id_{field}").count():
                phone.fill(f"#id_{field}", value)
        phone.click("button:has-text('Next')")
    phone.wait_for_selector("#junos-preview")
    assert_fits(phone, "wizard-review")
    logout(phone)

    # the tenant's pages, and the pages that say no
    login(phone, live_server, "alice")
    for name, path in (
        ("tenant-vms", "/vms/"),
        ("tenant-vm", f"/vms/{world.vm_a.pk}/"),
        ("tenant-vm-order", "/vms/new/"),
        ("tenant-vm-delete", f"/vms/{world.vm_a.pk}/delete/"),
        ("tenant-jobs", "/jobs/"),
        ("tenant-api-keys", "/api-keys/"),
        ("tenant-api-key-create", "/api-keys/new/"),
        ("tenant-job-failed", f"/jobs/{failed.pk}/"),
    ):
        response = phone.goto(f"{base}{path}")
        assert response.status == 200, (name, response.status)
        assert_fits(phone, name)
    assert phone.locator("#jobs-indicator").count() == 0  # tenants never see it
    assert phone.goto(f"{base}/dashboard/").status == 403
    assert_fits(phone, "forbidden")
    assert phone.goto(f"{base}/vms/{world.vm_b.pk}/").status == 404
    assert_fits(phone, "not-found")
    phone.goto(f"{base}/vms/new/")
    phone.fill("#id_name", "bad name!")
    phone.click("button:has-text('Order')")
    assert_fits(phone, "tenant-vm-order-errors")


def test_the_header_wraps_its_links_rather_than_hiding_them(live_server, phone):
    world, _ = busy_world()
    login(phone, live_server, "ops")
    phone.goto(f"{live_server.url}/nodes/")
    for label in ("Dashboard", "Clusters", "Nodes", "VMs", "Jobs"):
        link = phone.locator("header nav a", has_text=label)
        assert link.is_visible(), label
    phone.locator("header nav a", has_text="Jobs").click()
    phone.wait_for_url("**/jobs/")
    assert phone.inner_text("h1") == "Jobs"
