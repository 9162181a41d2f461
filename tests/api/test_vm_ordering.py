"""Ordering VMs: 202 with the job, idempotent retries (also concurrent), clear 4xx errors."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from apps.compute.models import IdempotencyKey, VirtualMachine
from apps.jobs.models import Job
from fabric_portal.beat import purge_idempotency_keys
from tests.api.conftest import assert_error, make_world
from tests.api.test_resources import order_running_vm
from tests.factories import make_cluster, make_network, make_plan, make_pool, make_ready_cluster

VMS = "/api/v1/vms/"


def order(world, who="alice", key=None, **body):
    payload = {"plan": world.plan.pk, "cluster": world.cluster.pk, "name": "web-1", **body}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return world.client(who).post(VMS, payload, format="json", **headers)


def test_order_answers_202_with_the_vm_and_its_job(world):
    response = order(world, description="front end")
    assert response.status_code == 202
    body = response.json()
    vm = VirtualMachine.objects.get(pk=body["id"])
    assert (vm.tenant, vm.name, body["state"]) == (world.tenant_a, "web-1", "ordered")
    assert body["ipv4"] == vm.ip_addresses.get().address
    job = Job.objects.get(pk=body["job"]["id"])
    assert (job.kind, job.target, job.created_by) == ("vm_create", vm, world.users["alice"])
    assert body["job"] == {"id": job.pk, "url": f"/api/v1/jobs/{job.pk}/", "kind": "vm_create",
                           "state": "queued"}  # fmt: skip
    detail = world.client("alice").get(body["job"]["url"]).json()
    assert detail["target"] == {"type": "compute.virtualmachine", "id": vm.pk, "repr": "web-1"}
    assert detail["steps"] == []


def test_a_retried_order_returns_the_same_vm(world):
    first = order(world, key="order-42")
    again = order(world, key="order-42")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert VirtualMachine.objects.count() == 1
    assert Job.objects.filter(kind="vm_create").count() == 1


def test_keys_older_than_the_retention_are_purged_by_beat(world, settings):
    settings.FABRIC_IDEMPOTENCY_KEY_HOURS = 24
    order(world, key="old-order", name="old")
    order(world, key="new-order", name="new")
    IdempotencyKey.objects.filter(key="old-order").update(
        created=timezone.now() - timedelta(hours=25)
    )

    assert purge_idempotency_keys() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new-order"]
    assert VirtualMachine.objects.count() == 2  # only the record goes, never the VM
    assert order(world, key="old-order", name="old-2").status_code == 202  # a new order now
    assert VirtualMachine.objects.count() == 3


def test_the_same_key_with_another_body_is_refused(world):
    order(world, key="order-43")
    response = order(world, key="order-43", name="web-2")
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")
    assert VirtualMachine.objects.count() == 1


def test_keys_belong_to_their_principal_and_failed_orders_do_not_use_them(world):
    assert order(world, key="k").status_code == 202
    other = order(world, who="bob", key="k")  # bob's key space is his own
    assert other.status_code == 202 and other.json()["id"] != order(world, key="k").json()["id"]
    assert_error(order(world, key="bad", plan=999999), 400, "validation_error", "plan")
    world.plan.is_active = False
    world.plan.save()
    assert_error(order(world, key="retry-me", name="web-9"), 400, "validation_error", "plan")
    assert not IdempotencyKey.objects.filter(key="retry-me").exists()
    world.plan.is_active = True
    world.plan.save()
    assert order(world, key="retry-me", name="web-9").status_code == 202


def test_a_malformed_idempotency_key_names_the_header(world):
    assert_error(order(world, key="x" * 256), 400, "validation_error", "Idempotency-Key")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_orders_make_one_vm():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (make test starts one)")
    world = make_world()
    barrier, responses = threading.Barrier(2), []

    def client() -> None:
        try:
            barrier.wait()
            responses.append(order(world, key="same-order"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [202, 202]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert VirtualMachine.objects.count() == 1
    assert Job.objects.filter(kind="vm_create").count() == 1
    assert IdempotencyKey.objects.count() == 1


def test_tenant_is_required_unless_you_act_for_one(world):
    assert_error(order(world, who="admin"), 400, "validation_error", "tenant")
    assert order(world, who="admin", tenant=world.tenant_b.pk).status_code == 202
    # a tenant user cannot order for another tenant: that tenant is not a valid choice
    assert_error(order(world, tenant=world.tenant_b.pk), 400, "validation_error", "tenant")
    assert_error(order(world, who="alice_ro"), 403, "permission_denied")


def test_bad_orders_get_clear_4xx_errors(world):
    assert_error(order(world, plan=424242), 400, "validation_error", "plan")
    assert_error(order(world, cluster="x"), 400, "validation_error", "cluster")
    assert_error(order(world, name='web"; drop'), 400, "validation_error", "name")
    assert_error(order(world, name=""), 400, "validation_error", "name")
    response = world.client("alice").post(VMS, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")
    order(world)
    assert_error(order(world), 400, "validation_error", "name")  # taken


def test_exhausted_pool_is_409_naming_the_cluster(world):
    cluster = make_ready_cluster(name="tiny")
    network = make_network(cluster=cluster, prefix="185.77.0.0/24")
    make_pool(network=network, first="185.77.0.10", last="185.77.0.10")
    assert order(world, cluster=cluster.pk, name="only").status_code == 202
    error = assert_error(order(world, cluster=cluster.pk, name="more"), 409, "pool_exhausted")
    assert list(error["fields"]) == ["cluster"]
    assert not VirtualMachine.objects.filter(name="more").exists()


def test_quota_is_409_naming_the_tenant(world):
    world.tenant_a.max_vms = 1
    world.tenant_a.save()
    assert order(world).status_code == 202
    error = assert_error(order(world, name="web-2"), 409, "quota_exceeded", "tenant")
    assert "Quota" in error["message"]


def test_a_container_plan_on_a_kvm_cluster_names_the_plan(world):
    plan = make_plan(kind="container")
    assert_error(order(world, plan=plan.pk), 400, "validation_error", "plan")


def test_a_container_on_nodes_that_cannot_enforce_its_disk_size_names_the_plan(world):
    from apps.compute.models import GuestImage
    from apps.fabric.models import Cluster
    from tests.factories import make_node

    Cluster.objects.filter(pk=world.cluster.pk).update(virtualization="lxd")
    make_node(cluster=world.cluster, hypervisor="lxd", state="ready",
              facts={"lxd_storage_driver": "dir"})  # fmt: skip
    image = GuestImage.objects.create(name="ct", hypervisor="lxd", lxd_alias="bb")
    plan = make_plan(kind="container")
    error = assert_error(order(world, plan=plan.pk, image=image.pk), 400, "validation_error",
                         "plan")  # fmt: skip
    assert "do not enforce sizes" in error["fields"]["plan"][0]
    assert not VirtualMachine.objects.filter(name="web-1").exists()


def test_stop_start_and_delete_answer_202_and_refuse_wrong_states(world):
    vm, client = order_running_vm(world), world.client("alice")
    url = f"{VMS}{vm.pk}/"
    stopped = client.post(f"{url}stop/")
    assert stopped.status_code == 202 and stopped.json()["job"]["kind"] == "vm_stop"
    assert_error(client.post(f"{url}start/"), 409, "invalid_state", "state")  # still running
    Job.objects.filter(pk=stopped.json()["job"]["id"]).update(state="succeeded")  # one at a time
    deleted = client.delete(url)
    assert deleted.status_code == 202 and deleted.json()["job"]["kind"] == "vm_delete"
    fresh = order(world, name="fresh").json()
    assert_error(client.delete(f"{VMS}{fresh['id']}/"), 409, "invalid_state", "state")
    assert_error(world.client("alice_ro").post(f"{url}stop/"), 403, "permission_denied")
    assert_error(world.client("bob").post(f"{url}stop/"), 404, "not_found")


def test_only_the_description_of_a_vm_changes(world):
    vm = order_running_vm(world)
    url, client = f"{VMS}{vm.pk}/", world.client("alice")
    response = client.patch(url, {"description": "db", "name": "renamed", "state": "deleted"},
                            format="json")  # fmt: skip
    error = assert_error(response, 400, "validation_error", "name")
    assert set(error["fields"]) == {"name", "state"}
    assert client.patch(url, {"description": "db"}, format="json").status_code == 200
    vm.refresh_from_db()
    assert (vm.description, vm.name, vm.state) == ("db", vm.name, "running")


def test_vm_list_filters(world):
    running = order_running_vm(world)
    order(world, name="pending")
    client = world.client("admin")

    def ids(**params):
        return {row["id"] for row in client.get(VMS, params).json()["results"]}

    assert ids(state="running") == {running.pk}
    assert ids(tenant=world.tenant_b.pk) == set()
    assert ids(address=running.ip_addresses.get().address) == {running.pk}
    assert len(ids(search="pend")) == 1
    assert_error(client.get(VMS, {"state": "nonsense"}), 400, "validation_error", "state")
    assert_error(client.get(VMS, {"tenant": "x"}), 400, "validation_error", "tenant")
    assert_error(client.get(VMS, {"name": "a\x00b"}), 400, "validation_error", "name")


@pytest.mark.parametrize("state", ["new", "failed"])
def test_an_order_for_a_cluster_that_is_not_ready_is_409_not_ready(world, state):
    cluster = make_cluster(name=f"c-{state}", state=state)
    make_pool(network=make_network(cluster=cluster, prefix="185.77.0.0/24"),
              first="185.77.0.10", last="185.77.0.20")  # fmt: skip
    error = assert_error(order(world, cluster=cluster.pk), 409, "not_ready", "cluster")
    assert state in error["fields"]["cluster"][0]
    assert not VirtualMachine.objects.filter(name="web-1").exists()


def test_an_order_for_a_cluster_without_a_ready_node_is_409_not_ready(world):
    world.cluster.nodes.update(state="draining")
    error = assert_error(order(world), 409, "not_ready", "cluster")
    assert "no ready node" in error["fields"]["cluster"][0]
    assert not VirtualMachine.objects.exists()


def test_a_failed_vm_does_not_keep_its_name(world):
    first = order(world).json()
    VirtualMachine.objects.filter(pk=first["id"]).update(state="failed")
    again = order(world)
    assert again.status_code == 202, again.content[:500]
    assert again.json()["name"] == "web-1" and again.json()["id"] != first["id"]


def test_the_202_of_delete_shows_the_state_it_set(world):
    vm, client = order_running_vm(world), world.client("alice")
    deleted = client.delete(f"{VMS}{vm.pk}/")
    assert deleted.status_code == 202
    assert deleted.json()["state"] == "deleting"
    vm.refresh_from_db()
    assert vm.state == "deleting"
    assert_error(client.delete(f"{VMS}{vm.pk}/"), 409, "invalid_state", "state")


def test_the_202_of_stop_and_start_shows_the_state_it_set(world):
    vm, client = order_running_vm(world), world.client("alice")
    stopped = client.post(f"{VMS}{vm.pk}/stop/")
    assert stopped.status_code == 202 and stopped.json()["state"] == "stopping"
    vm.refresh_from_db()
    assert vm.state == "stopping"
    assert client.get(f"{VMS}{vm.pk}/").json()["state"] == "stopping"
    # a stopping VM is neither started nor stopped again: its job is named while it runs
    assert_error(client.post(f"{VMS}{vm.pk}/start/"), 409, "invalid_state", "job")
    # its job lost (no job acts on it), a stopping VM may be stopped again, not started
    Job.objects.filter(kind="vm_stop", target_id=vm.pk).update(state="failed")
    error = assert_error(client.post(f"{VMS}{vm.pk}/start/"), 409, "invalid_state", "state")
    assert "is stopping" in error["message"]
    again = client.post(f"{VMS}{vm.pk}/stop/")
    assert again.status_code == 202 and again.json()["job"]["kind"] == "vm_stop"
    assert Job.objects.filter(kind="vm_stop", target_id=vm.pk).count() == 2
    Job.objects.filter(kind="vm_stop", target_id=vm.pk).update(state="succeeded")

    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped")  # what the worker does
    started = client.post(f"{VMS}{vm.pk}/start/")
    assert started.status_code == 202 and started.json()["state"] == "starting"
    assert started.json()["job"]["kind"] == "vm_start"
    assert client.get(f"{VMS}?state=starting").json()["count"] == 1
