"""Every /api/v1/ resource through the one mixin: CRUD, 401, 403 and 404 per role."""

import itertools

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.fabric.models import Node, RouteReflector
from apps.fabric.selectors import node_bird_config
from apps.jobs.models import Job
from apps.jobs.services import job_create
from apps.tenancy.models import Membership
from apps.tenancy.services import api_key_create
from tests.api.conftest import assert_error
from tests.api.resource import STAFF_READERS, ResourceTests
from tests.factories import (
    TEST_SSH_KEY,
    make_bgw,
    make_cluster,
    make_network,
    make_node,
    make_plan,
    make_pool,
    make_rr,
)
from workers.render import render_node_bird

counter = itertools.count(1)
STAFF_ONLY = {"readers": STAFF_READERS, "forbidden_readers": ("alice", "alice_ro", "b_key")}


def order_running_vm(world, tenant=None) -> VirtualMachine:
    """A VM of tenant A (by default), ordered and marked running on a node."""
    vm = vm_order(tenant=tenant or world.tenant_a, plan=world.plan, cluster=world.cluster,
                  name=f"vm-{next(counter)}")  # fmt: skip
    node = world.cluster.nodes.first() or make_node(cluster=world.cluster)
    VirtualMachine.objects.filter(pk=vm.pk).update(node=node, state="running")
    vm.refresh_from_db()
    return vm


class TestTenants(ResourceTests):
    path = "/api/v1/tenants/"
    writer, forbidden_writers, outsider = "admin", ("operator", "alice"), "bob"
    update = {"max_vms": 7}

    def make(self, world):
        return world.tenant_a

    def payload(self, world):
        return {"name": f"newco-{next(counter)}", "max_vms": 5}

    def bad_payload(self, world):
        return {"name": "not a name!"}, "name"


class TestMemberships(ResourceTests):
    path = "/api/v1/memberships/"
    writer, forbidden_writers, outsider = "admin", ("operator", "alice"), "bob"
    update = {"role": "read_only"}

    def make(self, world):
        return Membership.objects.get(user=world.users["alice"])

    def payload(self, world):
        return {"user": "bob", "tenant": world.tenant_a.pk, "role": "read_only"}

    def bad_payload(self, world):
        return {"user": "bob", "tenant": world.tenant_a.pk, "role": "operator"}, "tenant"


class TestApiKeys(ResourceTests):
    path = "/api/v1/api-keys/"
    writer, forbidden_writers, outsider = "alice", ("operator", "alice_ro", "auditor"), "bob"
    can_update = False
    hidden_fields = ("hashed_key",)

    def make(self, world):
        return api_key_create(name=f"k{next(counter)}", tenant=world.tenant_a, role="read_only")[0]

    def payload(self, world):
        return {"name": "ci", "tenant": world.tenant_a.pk, "role": "read_only"}

    def bad_payload(self, world):
        return {"name": "ci", "tenant": world.tenant_b.pk, "role": "read_only"}, "tenant"


class TestPlans(ResourceTests):
    path = "/api/v1/plans/"
    forbidden_writers = ("auditor", "alice", "alice_ro")

    def make(self, world):
        return make_plan()

    def payload(self, world):
        return {"name": f"large-{next(counter)}", "vcpus": 8, "memory_mb": 8192, "disk_gb": 80}

    def bad_payload(self, world):
        return {"name": "tiny", "vcpus": 0, "memory_mb": 8192, "disk_gb": 80}, "vcpus"


class TestClusters(ResourceTests):
    path = "/api/v1/clusters/"
    forbidden_writers = ("auditor", "alice", "alice_ro")

    def make(self, world):
        return make_cluster()

    def payload(self, world):
        return {"name": f"ams-{next(counter)}", "bgp_asn": 4200000001, "bgp_community": "65001:7"}

    def bad_payload(self, world):
        return {"name": "ams", "bgp_asn": 65001, "bgp_community": "65001"}, "bgp_community"


class TestBorderGateways(ResourceTests):
    path = "/api/v1/border-gateways/"
    creator = "admin"  # devices come with their management access: admins only
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    can_delete = False
    hidden_fields = ("password", "ssh_private_key")
    update = {"bgp_group": "TENANTS"}

    def make(self, world):
        return make_bgw()

    def payload(self, world):
        return {
            "cluster": make_cluster().pk, "name": "mx1", "mgmt_host": "mx1.example.net",
            "username": "netops", "password": "s3cret-pass", "peering_ip": "10.9.0.1",
            "peer_asn": 65000,
        }  # fmt: skip

    def bad_payload(self, world):
        return {**self.payload(world), "password": ""}, "password"


class TestRouteReflectors(ResourceTests):
    path = "/api/v1/route-reflectors/"
    creator = "admin"  # devices come with their management access: admins only
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    delete_status = 202
    hidden_fields = ("ssh_password", "ssh_private_key")

    def make(self, world):
        return make_rr(cluster=world.cluster)

    def writable(self, world):
        make_rr(cluster=world.cluster, state="ready")  # another RR keeps the cluster routed
        return make_rr(cluster=world.cluster, state="ready")

    def test_delete_queues_the_removal_and_the_rr_leaves_the_configs_at_once(self, world):
        rr = self.writable(world)
        node = make_node(cluster=world.cluster)
        assert rr.peering_ip in render_node_bird(node_bird_config(node))

        body = world.client("operator").delete(self.detail(rr)).json()

        assert body["state"] == "removing" and body["job"]["id"]
        job = Job.objects.get(pk=body["job"]["id"])
        assert (job.kind, job.target_id, job.state) == ("route_reflector_remove", rr.pk, "queued")
        assert rr.peering_ip not in render_node_bird(node_bird_config(node))
        assert world.client("operator").get(self.detail(rr)).json()["state"] == "removing"

    def test_the_last_ready_route_reflector_is_refused_and_nothing_changes(self, world):
        lone = make_cluster()
        rr = make_rr(cluster=lone, state="ready")
        make_rr(cluster=lone, state="failed")  # not a working replacement

        response = world.client("operator").delete(self.detail(rr))

        error = assert_error(response, 409, "not_removable", "route_reflector")
        assert "last ready route reflector" in error["message"]
        rr.refresh_from_db()
        assert rr.state == "ready"
        assert not Job.objects.filter(kind="route_reflector_remove").exists()

    def test_a_second_delete_while_the_first_is_queued_is_refused(self, world):
        rr = self.writable(world)
        client = world.client("operator")
        first = client.delete(self.detail(rr)).json()

        error = assert_error(client.delete(self.detail(rr)), 409, "not_removable")

        assert f"job #{first['job']['id']}" in error["message"]
        assert Job.objects.filter(kind="route_reflector_remove").count() == 1

    def test_two_removals_cannot_take_both_route_reflectors(self, world):
        cluster = make_cluster()
        rr1, rr2 = (make_rr(cluster=cluster, state="ready") for _ in range(2))
        client = world.client("operator")

        assert client.delete(self.detail(rr1)).status_code == 202
        assert_error(client.delete(self.detail(rr2)), 409, "not_removable")
        assert RouteReflector.objects.get(pk=rr2.pk).state == "ready"

    def payload(self, world):
        n = next(counter)
        return {"cluster": world.cluster.pk, "name": f"rr-x{n}", "peering_ip": f"10.7.0.{n}",
                "ssh_private_key": TEST_SSH_KEY}  # fmt: skip

    def bad_payload(self, world):
        return {**self.payload(world), "ssh_private_key": ""}, "ssh_private_key"


class TestNodes(ResourceTests):
    path = "/api/v1/nodes/"
    creator = "admin"  # devices come with their management access: admins only
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    create_status = delete_status = 202
    hidden_fields = ("ssh_password", "ssh_private_key")

    def make(self, world):
        return make_node(cluster=world.cluster)

    def payload(self, world):
        n = next(counter)
        return {"cluster": world.cluster.pk, "name": f"hv-{n}", "underlay_ip": f"10.8.0.{n}",
                "ssh_password": "pw-for-tests", "vcpus": 32, "memory_mb": 131072,
                "disk_gb": 2000}  # fmt: skip

    def bad_payload(self, world):
        return {**self.payload(world), "underlay_ip": "not-an-ip"}, "underlay_ip"


def test_a_node_persists_its_host_config_unless_told_not_to(world):
    admin, body = world.client("admin"), TestNodes().payload(world)
    default = admin.post("/api/v1/nodes/", body, format="json")
    assert default.status_code == 202, default.content
    assert default.json()["persist_host_config"] is True
    shared_etc = admin.post(
        "/api/v1/nodes/",
        {**TestNodes().payload(world), "persist_host_config": False},
        format="json",
    )
    assert shared_etc.status_code == 202, shared_etc.content
    assert Node.objects.get(pk=shared_etc.json()["id"]).persist_host_config is False
    assert Node.objects.get(pk=default.json()["id"]).persist_host_config is True


def test_nodes_drain_and_undrain_through_the_api(world):
    node = make_node(cluster=world.cluster, state="ready")
    operator, path = world.client("operator"), f"/api/v1/nodes/{node.pk}/"

    assert_error(world.client("auditor").post(path + "drain/"), 403)
    drained = operator.post(path + "drain/")
    assert drained.status_code == 200 and drained.json()["state"] == "draining"
    error = assert_error(operator.post(path + "drain/"), 409, "invalid_state", "state")
    assert "only a ready node can drain" in error["message"]
    assert operator.post(path + "undrain/").json()["state"] == "ready"
    assert_error(operator.post(path + "undrain/"), 409, "invalid_state", "state")


class TestNetworks(ResourceTests):
    path = "/api/v1/networks/"
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]

    def make(self, world):
        return make_network()

    def payload(self, world):
        return {"cluster": world.cluster.pk, "prefix": f"185.99.{next(counter)}.0/24"}

    def bad_payload(self, world):
        return {"cluster": world.cluster.pk, "prefix": "10.0.0.0/8"}, "prefix"


class TestPools(ResourceTests):
    path = "/api/v1/pools/"
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    update = {"excluded": "185.98.1.20"}

    def make(self, world):
        return make_pool()

    def writable(self, world):
        return make_pool(network=make_network(prefix="185.98.1.0/24"))

    def payload(self, world):
        network = make_network()
        first, last = network.ip_network[1], network.ip_network[100]
        return {"network": network.pk, "name": "p", "first_address": str(first),
                "last_address": str(last)}  # fmt: skip

    def bad_payload(self, world):
        return {**self.payload(world), "first_address": "192.0.2.1"}, "first_address"


class TestIPAddresses(ResourceTests):
    path = "/api/v1/ip-addresses/"
    outsider = "bob"
    forbidden_writers = ("auditor",)  # tenants do not even see reserved addresses (404)
    update = {"status": "quarantined"}

    def test_tenants_see_their_addresses_but_only_operators_write(self, world):
        ip, client = self.make(world), world.client("alice")
        assert_error(client.post(self.path, self.payload(world), format="json"), 403)
        assert_error(client.patch(self.detail(ip), self.update, format="json"), 403)
        assert_error(client.delete(self.detail(ip)), 403)
        reserved = self.writable(world)
        assert_error(client.get(self.detail(reserved)), 404)

    def test_allocated_addresses_are_given_back_by_their_vm_only(self, world):
        ip, client = self.make(world), world.client("operator")
        assert_error(client.delete(self.detail(ip)), 409, "address_in_use")
        assert_error(client.patch(self.detail(ip), self.update, format="json"), 409)

    def make(self, world):
        return order_running_vm(world).ip_addresses.get()

    def writable(self, world):
        pool = world.cluster.networks.get().pools.get()
        response = world.client("operator").post(self.path, self.payload(world), format="json")
        return pool.addresses.get(pk=response.json()["id"])

    def payload(self, world):
        pool = world.cluster.networks.get().pools.get()
        address = f"203.0.113.{200 + next(counter) % 50}"
        return {"pool": pool.pk, "address": address, "status": "reserved"}

    def bad_payload(self, world):
        return {**self.payload(world), "address": "198.18.0.1"}, "address"


class TestVirtualMachines(ResourceTests):
    path = "/api/v1/vms/"
    writer, forbidden_writers, outsider = "alice", ("auditor", "alice_ro"), "bob"
    create_status = delete_status = 202

    def make(self, world):
        return order_running_vm(world)

    def payload(self, world):
        return {"plan": world.plan.pk, "cluster": world.cluster.pk, "name": f"web-{next(counter)}"}

    def bad_payload(self, world):
        return {"plan": 999999, "cluster": world.cluster.pk, "name": "web"}, "plan"


class TestJobs(ResourceTests):
    path = "/api/v1/jobs/"
    outsider = "bob"
    can_create = can_update = can_delete = False

    def make(self, world):
        vm = order_running_vm(world)
        return job_create(kind="vm_stop", target=vm, tenant=vm.tenant)


class TestUsageEvents(ResourceTests):
    path = "/api/v1/usage-events/"
    outsider = "bob"
    can_create = can_update = can_delete = False

    def make(self, world):
        return UsageEvent.objects.filter(vm=order_running_vm(world)).last()


class TestWebhooks(ResourceTests):
    path = "/api/v1/webhooks/"
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    hidden_fields = ("secret",)
    update = {"is_active": False}

    def make(self, world):
        return WebhookEndpoint.objects.create(name="billing", url="http://127.0.0.1:9/h",
                                              secret="x" * 32, tenant=world.tenant_a)  # fmt: skip

    def payload(self, world):
        return {"name": "billing", "url": "https://billing.example.net/hooks"}

    def bad_payload(self, world):
        return {"name": "billing", "url": "ftp://billing.example.net/"}, "url"


class TestWebhookDeliveries(ResourceTests):
    path = "/api/v1/webhook-deliveries/"
    readers, forbidden_readers = STAFF_ONLY["readers"], STAFF_ONLY["forbidden_readers"]
    can_create = can_update = can_delete = False

    def make(self, world):
        event = UsageEvent.objects.filter(vm=order_running_vm(world)).first()
        endpoint = TestWebhooks().make(world)
        return WebhookDelivery.objects.create(endpoint=endpoint, event=event, body="{}",
                                              event_type="vm.state_changed")  # fmt: skip
