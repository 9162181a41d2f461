"""A fresh install: the dashboard's checklist walks an administrator through cluster → node →
plan → tenant → a way in for the tenant, and empty lists say what to do next."""

import re

import pytest
from django.test import Client

from apps.tenancy.services import api_key_create
from tests.factories import (
    make_cluster,
    make_membership,
    make_node,
    make_plan,
    make_tenant,
    make_user,
)

pytestmark = pytest.mark.django_db


def client_for(role: str | None = "admin", *, superuser: bool = False) -> Client:
    user = make_user(username=f"{role}-user", is_superuser=superuser)
    if role and not superuser:
        make_membership(user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def checklist(client) -> dict[str, tuple[bool, str]]:
    """{step: (done, the link of its button or "")} as the dashboard shows it."""
    page = client.get("/dashboard/").content.decode()
    if 'id="first-run"' not in page:
        return {}
    section = page.split('id="first-run"', 1)[1].split("</section>", 1)[0]
    steps = {}
    for item in section.split("<li ")[1:]:
        key = re.search(r'data-step="(\w+)"', item).group(1)
        done = 'data-done="true"' in item
        link = re.search(r'<a class="btn btn-small" id="setup-\w+" href="([^"]+)"', item)
        steps[key] = (done, link.group(1) if link else "")
    return steps


def test_an_empty_install_shows_every_step_to_do():
    steps = checklist(client_for(superuser=True))

    assert list(steps) == ["cluster", "node", "plan", "tenant", "access"]
    assert steps["cluster"] == (False, "/clusters/new/bgp/")
    assert steps["node"] == (False, "")  # no cluster to add it to yet
    assert steps["plan"] == (False, "/plans/new/")
    assert steps["tenant"] == (False, "/tenants/new/")
    assert steps["access"] == (False, "")


def test_steps_are_done_as_the_install_grows():
    client = client_for("admin")
    cluster = make_cluster(name="fra1")
    steps = checklist(client)
    assert steps["cluster"][0] and steps["node"] == (False, f"/clusters/{cluster.pk}/nodes/new/")

    node = make_node(cluster=cluster, name="hv1", state="new")
    assert checklist(client)["node"] == (False, "/nodes/")  # one being added: follow it

    node.state = "ready"
    node.save()
    make_plan(name="small")
    tenant = make_tenant(name="acme")
    steps = checklist(client)
    assert all(steps[key][0] for key in ("cluster", "node", "plan", "tenant"))
    assert steps["access"] == (False, f"/memberships/new/?tenant={tenant.pk}")

    api_key_create(name="billing", tenant=tenant, role="tenant_user")
    assert checklist(client) == {}  # all done: the checklist is gone


def test_a_tenant_member_also_lets_the_tenant_in():
    client = client_for("admin")
    cluster = make_cluster(name="fra1")
    make_node(cluster=cluster, name="hv1", state="ready")
    make_plan(name="small")
    tenant = make_tenant(name="acme")
    make_membership(user=make_user(username="alice"), tenant=tenant, role="tenant_user")

    assert checklist(client) == {}


def test_only_administrators_see_the_checklist():
    for role in ("operator", "read_only"):
        page = client_for(role).get("/dashboard/")
        assert page.status_code == 200 and 'id="first-run"' not in page.content.decode()


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("/clusters/", "/clusters/new/bgp/"),
        ("/nodes/", "/clusters/"),
        ("/plans/", "/plans/new/"),
        ("/tenants/", "/tenants/new/"),
        ("/memberships/", "/memberships/new/"),
        ("/api-keys/", "/api-keys/new/"),
        ("/vms/", "/vms/new/"),
    ],
)
def test_empty_lists_say_what_to_do_next(url, link):
    client = client_for(superuser=True)

    page = client.get(url).content.decode()

    empty = page.split('class="empty"', 1)[1].split("</td>", 1)[0]
    assert "yet" in empty and f'href="{link}"' in empty, empty
    filtered = client.get(f"{url}?q=nothing-like-this").content.decode()
    assert "matches" in filtered.split('class="empty"', 1)[1].split("</td>", 1)[0]


def test_an_operator_is_told_who_creates_tenants():
    page = client_for("operator").get("/tenants/").content.decode()

    assert "An administrator creates them." in page and "/tenants/new/" not in page
