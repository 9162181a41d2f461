"""Tenant self-service: ordering (with its inline errors), the VM page, stop/start/delete."""

import pytest

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress
from apps.jobs.models import Job
from tests.factories import (
    make_cluster,
    make_network,
    make_plan,
    make_pool,
    make_ready_cluster,
    make_vm,
)

pytestmark = pytest.mark.django_db


def order(world, who="alice", **fields):
    data = {"plan": world.plan.pk, "cluster": world.cluster.pk, "name": "db1"}
    data.update(fields)
    return world.client(who).post("/vms/new/", data)


def field_errors(response, field: str) -> str:
    """The inline errors under `field` (empty when there are none)."""
    page = response.content.decode()
    marker = f'id="id_{field}-errors"'
    if marker not in page:
        return ""
    return page.split(marker, 1)[1].split("</ul>", 1)[0]


def test_order_creates_the_vm_with_its_addresses_and_queues_vm_create(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = order(world, description="Primary database")
    vm = VirtualMachine.objects.get(name="db1")
    assert response.status_code == 302 and response["Location"] == f"/vms/{vm.pk}/"
    assert vm.tenant == world.tenant_a and vm.state == "ordered"
    assert vm.description == "Primary database"
    assert IPAddress.objects.filter(vm=vm, family=4).exists()
    job = Job.objects.get(kind="vm_create", target_id=vm.pk)
    assert job.tenant == world.tenant_a and job.created_by == world.users["alice"]
    assert len(queued) == 1  # the task goes to the broker once the order commits

    page = world.client("alice").get(f"/vms/{vm.pk}/").content.decode()
    ipv4 = vm.ip_addresses.get(family=4).address
    assert ipv4 in page and "10.0.0.1" in page and "02:00:0a:00:00:01" in page
    assert f"ip addr add {ipv4}/32 dev eth0" in page
    assert "ip route add default via 10.0.0.1 dev eth0 onlink" in page
    assert 'hx-trigger="every 1s"' in page  # provisioning: the page follows it live
    assert "hv1" not in page  # tenants never see the node


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"name": "web-a"}, "name", "You already have a VM named web-a."),
        ({"name": "bad name;"}, "name", "Use 1-63 letters"),
        ({"name": ""}, "name", "This field is required."),
        ({"description": 'say "hi"'}, "description", "Use letters, digits, spaces"),
        ({"plan": ""}, "plan", "This field is required."),
        ({"cluster": "999999"}, "cluster", "Select a valid choice."),
    ],
)
def test_bad_orders_show_the_error_at_the_field_and_create_nothing(world, fields, field, message):
    before = (VirtualMachine.objects.count(), IPAddress.objects.count(), Job.objects.count())
    response = order(world, **fields)
    assert response.status_code == 400
    assert message in field_errors(response, field)
    after = (VirtualMachine.objects.count(), IPAddress.objects.count(), Job.objects.count())
    assert after == before


def test_exhausted_pool_is_an_error_on_the_location(world):
    full = make_ready_cluster(name="tiny")
    make_pool(network=make_network(cluster=full, prefix="198.51.100.0/24"),
              first="198.51.100.10", last="198.51.100.10")  # fmt: skip
    assert order(world, cluster=full.pk, name="first").status_code == 302
    before = VirtualMachine.objects.count()
    response = order(world, cluster=full.pk, name="second")
    assert response.status_code == 400
    assert "No free address at this location" in field_errors(response, "cluster")
    assert VirtualMachine.objects.count() == before
    assert not VirtualMachine.objects.filter(name="second").exists()


def test_quota_reached_is_shown_at_the_top(world):
    world.tenant_a.max_vms = 1  # web-a already counts
    world.tenant_a.save()
    response = order(world)
    page = response.content.decode()
    assert response.status_code == 400
    assert 'class="form-errors"' in page and "Quota reached: 1 VMs for tenant acme." in page
    assert not VirtualMachine.objects.filter(name="db1").exists()


def test_inactive_plans_and_unready_clusters_are_not_offered(world):
    make_plan(name="retired", is_active=False)
    make_cluster(name="building", state="provisioning")
    page = world.client("alice").get("/vms/new/").content.decode()
    assert "small" in page and "retired" not in page
    assert "fra1" in page and "building" not in page
    retired = make_plan(name="retired2", is_active=False)
    response = order(world, plan=retired.pk)
    assert "Select a valid choice." in field_errors(response, "plan")


def test_tenant_user_cannot_order_for_another_tenant(world):
    response = order(world, tenant=world.tenant_b.pk)  # the hidden field, tampered with
    assert response.status_code == 400
    assert not VirtualMachine.objects.filter(name="db1").exists()


def test_staff_order_for_a_chosen_tenant(world):
    page = world.client("operator").get("/vms/new/").content.decode()
    assert "acme" in page and "globex" in page
    response = order(world, who="operator", tenant=world.tenant_b.pk, name="ops-made")
    assert response.status_code == 302
    assert VirtualMachine.objects.get(name="ops-made").tenant == world.tenant_b


def test_stop_start_and_delete_queue_their_jobs(world):
    client, vm = world.client("alice"), world.vm_a
    assert client.post(f"/vms/{vm.pk}/stop/")["Location"] == f"/vms/{vm.pk}/"
    assert Job.objects.filter(kind="vm_stop", target_id=vm.pk).count() == 1
    # Still stopping: starting it is refused with a message, nothing queued.
    response = client.post(f"/vms/{vm.pk}/start/", follow=True)
    assert "wait for it to finish" in response.content.decode()
    assert not Job.objects.filter(kind="vm_start", target_id=vm.pk).exists()

    Job.objects.filter(kind="vm_stop", target_id=vm.pk).update(state="succeeded")  # one at a time
    page = client.get(f"/vms/{vm.pk}/delete/").content.decode()
    assert "Type the name to confirm" in page
    wrong = client.post(f"/vms/{vm.pk}/delete/", {"confirm": "web-b"})
    assert wrong.status_code == 400 and "Type &quot;web-a&quot; exactly" in wrong.content.decode()
    assert not Job.objects.filter(kind="vm_delete").exists()
    right = client.post(f"/vms/{vm.pk}/delete/", {"confirm": "web-a"})
    assert right.status_code == 302
    assert Job.objects.filter(kind="vm_delete", target_id=vm.pk).count() == 1


def test_vm_page_stops_polling_once_settled_and_hides_actions_from_read_only(world):
    running = world.client("alice").get(f"/vms/{world.vm_a.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' not in running
    assert 'id="vm-stop"' in running and 'id="vm-delete"' in running
    read_only = world.client("alice_ro").get(f"/vms/{world.vm_a.pk}/").content.decode()
    assert "203.0.113.10" in read_only
    assert 'id="vm-stop"' not in read_only and 'id="vm-delete"' not in read_only


def test_vm_live_part_for_htmx(world):
    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(state="provisioning")
    response = world.client("alice").get(f"/vms/{world.vm_a.pk}/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="vm-live"')  # only the live part
    assert 'hx-trigger="every 1s"' in page and "<html" not in page


def test_list_search_and_filters(world):
    client = world.client("operator")
    assert "web-b" not in client.get("/vms/?q=web-a").content.decode()
    assert "web-a" in client.get("/vms/?q=203.0.113.10").content.decode()
    assert "web-a" not in client.get("/vms/?q=203.0.113.11").content.decode()
    assert "web-a" not in client.get("/vms/?state=stopped").content.decode()
    tenant_b = client.get(f"/vms/?tenant={world.tenant_b.pk}").content.decode()
    assert "web-b" in tenant_b and "web-a" not in tenant_b
    # A tenant's filters cannot widen its scope.
    alice = world.client("alice").get(f"/vms/?tenant={world.tenant_b.pk}").content.decode()
    assert "web-b" not in alice


def test_a_location_without_a_ready_node_is_a_clear_error_on_the_location(world):
    world.cluster.nodes.update(state="draining")
    response = order(world)
    assert response.status_code == 400
    assert "no ready node" in field_errors(response, "cluster")
    assert not VirtualMachine.objects.filter(name="db1").exists()


def test_stop_and_start_show_stopping_and_starting_and_the_page_follows_them(world):
    client, vm = world.client("alice"), world.vm_a
    page = client.post(f"/vms/{vm.pk}/stop/", follow=True).content.decode()
    assert 'data-state="stopping"' in page and 'hx-trigger="every 1s"' in page
    assert 'id="vm-stop"' not in page and 'id="vm-start"' not in page  # nothing twice
    assert 'class="badge badge-busy" data-state="stopping"' in page

    Job.objects.filter(kind="vm_stop").update(state="succeeded")
    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped")
    page = client.post(f"/vms/{vm.pk}/start/", follow=True).content.decode()
    assert 'data-state="starting"' in page and 'hx-trigger="every 1s"' in page
    assert 'class="badge badge-busy" data-state="starting"' in page


def test_a_failed_vm_whose_name_was_taken_since_can_still_be_deleted(world):
    """A failed VM keeps no name; once its tenant orders another VM of that name, deleting
    the failed one is still allowed (no 500), and the new VM keeps its name."""
    client, failed = world.client("alice"), world.vm_a
    VirtualMachine.objects.filter(pk=failed.pk).update(state="failed")
    again = make_vm(tenant=failed.tenant, plan=failed.plan, cluster=failed.cluster,
                    node=failed.node, name=failed.name, state="running")  # fmt: skip
    response = client.post(f"/vms/{failed.pk}/delete/", {"confirm": failed.name})
    assert response.status_code == 302, response.content.decode()[-500:]
    failed.refresh_from_db()
    assert failed.state == "deleting"
    assert Job.objects.filter(kind="vm_delete", target_id=failed.pk).count() == 1
    assert VirtualMachine.objects.get(pk=again.pk).state == "running"
