"""First run in a real browser, no lab: the administrator `make run` creates logs in on an
empty install, follows the dashboard's checklist to make a plan and a tenant, invites the
tenant's user and makes the tenant's API key, whose secret is shown once and works."""

import io

import pytest
from django.core.management import call_command
from django.test import Client

from apps.compute.models import Plan
from apps.tenancy.models import ApiKey, Tenant
from tests.browser.conftest import PASSWORD, login, logout, screenshot

pytestmark = [pytest.mark.django_db(transaction=True)]


def api_get(path: str, secret: str):
    """An API call with the key alone (no browser session)."""
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")


def step_done(page, key: str) -> bool:
    return page.get_attribute(f'#first-run li[data-step="{key}"]', "data-done") == "true"


def test_an_admin_follows_the_checklist_to_a_plan_a_tenant_and_its_api_key(
    live_server, page, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("FABRIC_ADMIN_PASSWORD", PASSWORD)
    call_command("ensure_admin", username="admin", stdout=io.StringIO())
    login(page, live_server, "admin")

    # An empty install: every step to do; the first one is the cluster wizard.
    assert page.url.endswith("/dashboard/")
    assert [step_done(page, k) for k in ("cluster", "node", "plan", "tenant", "access")] == [
        False, False, False, False, False,
    ]  # fmt: skip
    assert page.get_attribute("#setup-cluster", "href") == "/clusters/new/bgp/"
    screenshot(page, "first-run-dashboard")

    # A plan: a bad size first (a field error, nothing saved), then a good one.
    page.click("#setup-plan")
    page.fill("#id_name", "small")
    page.fill("#id_vcpus", "0")
    page.fill("#id_memory_mb", "1024")
    page.fill("#id_disk_gb", "10")
    page.click("button:has-text('Create the plan')")
    assert "greater than or equal to 1" in page.inner_text("#id_vcpus-errors")
    assert not Plan.objects.exists()
    page.fill("#id_vcpus", "1")
    page.click("button:has-text('Create the plan')")
    page.wait_for_url("**/plans/")
    assert "small" in page.inner_text("main")

    # A tenant, from the checklist; its page says what comes next.
    page.goto(f"{live_server.url}/dashboard/")
    assert step_done(page, "plan") and not step_done(page, "tenant")
    page.click("#setup-tenant")
    page.fill("#id_name", "acme")
    page.fill("#id_max_vms", "1000000")
    page.click("button:has-text('Create the tenant')")
    assert page.inner_text("#id_max_vms-errors") == "At most 100000 VMs."
    page.fill("#id_max_vms", "20")
    page.click("button:has-text('Create the tenant')")
    page.wait_for_selector("#next-step")
    tenant = Tenant.objects.get(name="acme")
    assert tenant.max_vms == 20

    # Its user, invited from the tenant's page: a new account, its password shown once.
    page.click("#next-step a:has-text('add a member')")
    assert page.input_value("#id_tenant") == str(tenant.pk)
    page.fill("#id_username", "alice")
    page.click("button:has-text('Add the member')")
    alice_password = page.inner_text("#new-password").strip()
    assert len(alice_password) >= 12
    page.click("#member-done")
    assert "alice" in page.inner_text("main")
    screenshot(page, "first-run-tenant")

    # Its API key: the secret is on this page only.
    page.click("#new-api-key")
    page.fill("#id_name", "billing")
    page.click("button:has-text('Make the key')")
    secret = page.inner_text("#api-key-secret").strip()
    key = ApiKey.objects.get(name="billing")
    assert key.tenant == tenant and secret.startswith(key.prefix)
    screenshot(page, "first-run-api-key-secret")
    answer = api_get("/api/v1/tenants/", secret)
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()["results"]] == ["acme"]
    page.click("#keys-done")
    assert key.prefix in page.inner_text("main") and secret not in page.content()

    # The checklist now waits only for the cluster and its node (the lab's part).
    page.goto(f"{live_server.url}/dashboard/")
    assert [step_done(page, k) for k in ("cluster", "node", "plan", "tenant", "access")] == [
        False, False, True, True, True,
    ]  # fmt: skip
    screenshot(page, "first-run-dashboard-after")
    logout(page)

    # The invited tenant user logs in with the password shown once and sees their key.
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", alice_password)
    page.click("button[type=submit]")
    page.wait_for_url("**/vms/")
    page.click("header a:has-text('API keys')")
    assert key.prefix in page.inner_text("main")
    assert page.goto(f"{live_server.url}/tenants/").status == 403
