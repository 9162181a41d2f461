"""A small world for the portal view tests: one cluster with its devices, two tenants with a
VM each, jobs, and a logged-in browser client per role."""

from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress
from apps.jobs.models import Job, JobStep
from tests.factories import (
    make_bgw,
    make_cluster,
    make_membership,
    make_network,
    make_node,
    make_plan,
    make_pool,
    make_rr,
    make_tenant,
    make_user,
    make_vm,
)

ROLES = ("admin", "operator", "auditor", "alice", "alice_ro", "bob", "nobody")


@dataclass
class World:
    tenant_a: object
    tenant_b: object
    cluster: object
    bgw: object
    rr: object
    node: object
    pool: object
    plan: object
    vm_a: object
    vm_b: object
    node_job: object
    vm_job: object
    users: dict

    def client(self, who: str) -> Client:
        client = Client()
        if who != "anonymous":
            client.force_login(self.users[who])
        return client


def make_job(*, kind: str, target, tenant=None, state: str = "succeeded", steps=()) -> Job:
    """A finished (or running) job on `target` with `steps` as (name, state, output)."""
    now = timezone.now()
    done = state in ("succeeded", "failed")
    job = Job.objects.create(
        kind=kind,
        target_type=ContentType.objects.get_for_model(target),
        target_id=target.pk,
        target_repr=str(target),
        tenant=tenant,
        state=state,
        attempts=1,
        started=now,
        finished=now if done else None,
        error="step place failed: NoCapacity: node node-x full" if state == "failed" else "",
    )
    for position, (name, step_state, output, *data) in enumerate(steps, start=1):
        JobStep.objects.create(
            data=data[0] if data else {},
            job=job,
            attempt=1,
            position=position,
            name=name,
            state=step_state,
            output=output,
            started=now,
            finished=None if step_state == "running" else now,
        )
    return job


def give_address(vm, pool, address: str) -> IPAddress:
    return IPAddress.objects.create(
        pool=pool, address=address, family=4, status=IPAddress.Status.ALLOCATED, vm=vm
    )


def make_world() -> World:
    tenant_a, tenant_b = make_tenant(name="acme"), make_tenant(name="globex")
    cluster = make_cluster(name="fra1", state="ready")
    bgw = make_bgw(cluster=cluster, name="mx1", peering_ip="10.3.0.1")
    rr = make_rr(cluster=cluster, name="rr1", peering_ip="10.2.0.1", state="ready")
    node = make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.1", state="ready")
    network = make_network(cluster=cluster, prefix="203.0.113.0/24")
    pool = make_pool(network=network, first="203.0.113.10", last="203.0.113.250")
    plan = make_plan(name="small")
    vm_a = make_vm(tenant=tenant_a, plan=plan, cluster=cluster, name="web-a", node=node,
                   vnet_name="vnet1", state="running")  # fmt: skip
    vm_b = make_vm(tenant=tenant_b, plan=plan, cluster=cluster, name="web-b", node=node,
                   vnet_name="vnet2", state="running")  # fmt: skip
    give_address(vm_a, pool, "203.0.113.10")
    give_address(vm_b, pool, "203.0.113.11")
    node_job = make_job(
        kind="node_add",
        target=node,
        steps=[
            ("node_connect", "succeeded", "connected to 10.1.0.1:22"),
            ("node_apply_bird", "succeeded", "bird.conf replaced\nsessions established before: 0",
             {"node": node.pk, "changed": True}),
            ("rr_apply_config", "succeeded", "route reflector rr1\nbird.conf replaced",
             {"route_reflector": rr.pk, "changed": True}),
            ("node_verify_sessions", "succeeded", "Established with 1 route reflector(s)",
             {"sessions": [{"protocol": f"rr_{rr.pk}", "route_reflector": rr.pk,
                            "established": True, "info": "Established"}]}),
        ],
    )  # fmt: skip
    vm_job = make_job(
        kind="vm_create",
        target=vm_a,
        tenant=tenant_a,
        steps=[
            ("ip_allocate", "succeeded", "addresses: 203.0.113.10"),
            ("place", "succeeded", "node hv1, interface vnet1"),
        ],
    )
    users = {
        "admin": make_user(username="root", is_superuser=True, is_staff=True),
        "operator": make_user(username="ops"),
        "auditor": make_user(username="auditor"),
        "alice": make_user(username="alice"),
        "alice_ro": make_user(username="alice-ro"),
        "bob": make_user(username="bob"),
        "nobody": make_user(username="nobody"),
    }
    make_membership(user=users["operator"], role="operator")
    make_membership(user=users["auditor"], role="read_only")
    make_membership(user=users["alice"], tenant=tenant_a, role="tenant_user")
    make_membership(user=users["alice_ro"], tenant=tenant_a, role="read_only")
    make_membership(user=users["bob"], tenant=tenant_b, role="tenant_user")
    return World(tenant_a, tenant_b, cluster, bgw, rr, node, pool, plan, vm_a, vm_b,
                 node_job, vm_job, users)  # fmt: skip


@pytest.fixture
def world(db) -> World:
    return make_world()


def vm_count() -> int:
    return VirtualMachine.objects.count()
