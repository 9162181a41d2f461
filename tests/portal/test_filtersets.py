"""One filterset per model: the portal's list pages and the API's list endpoints filter
through the same class, so the same GET parameters find the same rows for the same user."""

import re

import pytest

from apps.api.urls import router
from apps.compute.models import VirtualMachine
from apps.portal import views
from tests.factories import make_vm
from tests.portal.conftest import give_address, make_job

pytestmark = pytest.mark.django_db


def portal_ids(client, path: str, params: dict) -> set[int]:
    response = client.get(path, params)
    assert response.status_code == 200, (path, params)
    return {int(pk) for pk in re.findall(rf'href="{path}(\d+)/"', response.content.decode())}


def api_ids(client, path: str, params: dict) -> set[int]:
    response = client.get(f"/api/v1{path}", params)
    assert response.status_code == 200, (path, params, response.content[:300])
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def more_vms(world):
    stopped = make_vm(tenant=world.tenant_a, plan=world.plan, cluster=world.cluster,
                      name="db-a", node=world.node, vnet_name="vnet3", state="stopped",
                      description="postgres")  # fmt: skip
    give_address(stopped, world.pool, "203.0.113.12")
    gone = make_vm(tenant=world.tenant_a, plan=world.plan, cluster=world.cluster,
                   name="old-a", state="deleted")  # fmt: skip
    return stopped, gone


VM_QUERIES = [
    {"q": "web-a"},
    {"q": "203.0.113.1"},
    {"q": "203.0.113.12"},
    {"q": "postgres"},
    {"q": "web 203.0.113.11"},
    {"state": "stopped"},
    {"state": ["running", "stopped"]},
    {"state": "deleted"},
    {"q": "a", "state": "running"},
]


@pytest.mark.parametrize("who", ["operator", "alice"])
def test_the_vm_list_and_the_api_find_the_same_vms(world, more_vms, who):
    client = world.client(who)
    stopped, gone = more_vms
    for params in [*VM_QUERIES, {"cluster": world.cluster.pk}, {"tenant": world.tenant_b.pk}]:
        found = portal_ids(client, "/vms/", params)
        listed = api_ids(client, "/vms/", params)
        if "deleted" not in params.get("state", []):
            listed.discard(gone.pk)  # the portal hides deleted VMs unless asked for them
        assert found == listed, (who, params)
    assert portal_ids(client, "/vms/", {"q": "203.0.113.12"}) == {stopped.pk}
    assert portal_ids(client, "/vms/", {"state": "deleted"}) == {gone.pk}
    assert portal_ids(client, "/vms/", {"state": ["running", "stopped"]}) >= {
        world.vm_a.pk,
        stopped.pk,
    }


def test_the_api_takes_q_and_search_alike(world, more_vms):
    client = world.client("operator")
    for term in ("web", "203.0.113.12", "postgres"):
        assert api_ids(client, "/vms/", {"q": term}) == api_ids(client, "/vms/", {"search": term})
        assert api_ids(client, "/vms/", {"q": term}), term
    # The browsable API renders the same filterset's form.
    page = client.get("/api/v1/vms/", {"q": "web", "state": "running"}, HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and 'name="q"' in page.content.decode()


@pytest.mark.parametrize("who", ["operator", "alice"])
def test_the_job_list_and_the_api_find_the_same_jobs(world, who):
    failed = make_job(kind="vm_start", target=world.vm_a, tenant=world.tenant_a, state="failed")
    client = world.client(who)
    queries = [{"q": "web-a"}, {"q": "node-x"}, {"state": "failed"}, {"kind": "vm_create"},
               {"kind": ["vm_create", "vm_start"]},
               {"q": "web-a", "state": "succeeded"}]  # fmt: skip
    for params in queries:
        assert portal_ids(client, "/jobs/", params) == api_ids(client, "/jobs/", params), params
    # Staff find a job by its error; a tenant, who is not shown errors, does not.
    found = portal_ids(client, "/jobs/", {"q": "node-x"})
    assert found == ({failed.pk} if who == "operator" else set())


def test_the_node_and_cluster_lists_and_the_api_agree(world):
    client = world.client("operator")
    for params in [{"q": "hv1"}, {"q": "10.1.0"}, {"q": "nope"}, {"state": "ready"},
                   {"cluster": world.cluster.pk}, {"state": "new"}]:  # fmt: skip
        assert portal_ids(client, "/nodes/", params) == api_ids(client, "/nodes/", params)
    assert portal_ids(client, "/nodes/", {"q": "10.1.0"}) == {world.node.pk}
    for params in [{"q": "fra"}, {"q": "ams"}, {"state": "ready"}, {"state": "new"}]:
        assert portal_ids(client, "/clusters/", params) == api_ids(client, "/clusters/", params)


def test_bad_filter_values_are_ignored_on_a_page_never_a_500(world):
    operator, alice = world.client("operator"), world.client("alice")
    for params in ({"state": "bogus"}, {"cluster": "abc"}, {"tenant": "-1"}, {"q": "a\x00b"},
                   {"cluster": str(2**70)}):  # fmt: skip
        assert world.vm_a.pk in portal_ids(operator, "/vms/", {**params}), params
    # A tenant may not filter by node (not shown where its VMs run): ignored, as in the
    # API where it is a 400 naming the parameter.
    assert portal_ids(alice, "/vms/", {"node": world.node.pk}) == {world.vm_a.pk}
    assert world.client("alice").get("/api/v1/vms/", {"node": world.node.pk}).status_code == 400


def test_the_filter_form_keeps_the_choice_and_offers_any(world):
    page = world.client("operator").get("/vms/", {"state": "stopped"}).content.decode()
    select = page.split('<select name="state"', 1)[1].split("</select>", 1)[0]
    assert '<option value="">any state</option>' in select
    assert '<option value="stopped" selected>' in select
    assert 'name="cluster"' in page and "any location" in page and "any tenant" in page
    tenant_page = world.client("alice").get("/vms/").content.decode()
    assert "any location" in tenant_page and 'name="tenant"' not in tenant_page


def test_every_list_uses_its_apps_filterset_in_the_api_and_the_portal():
    by_model = {}
    for _, viewset, _ in router.registry:
        filterset = viewset.filterset_class
        model = filterset._meta.model
        assert filterset.__module__ == f"apps.{model._meta.app_label}.filtersets", viewset
        by_model[model] = filterset
    pages = [views.VmListView, views.JobListView, views.NodeListView, views.ClusterListView]
    for page in pages:
        model = page.filterset_class._meta.model
        assert page.filterset_class is by_model[model], page
    assert by_model[VirtualMachine] is views.VmListView.filterset_class
