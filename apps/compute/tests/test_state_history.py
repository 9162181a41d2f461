"""Every VM workflow, run by the real runner on a fake hypervisor: the usage ledger and the
webhook deliveries see every state the VM went through, in order, each naming the state
before it as the one announced before it."""

import json

import pytest

from apps.billing.models import UsageEvent, WebhookDelivery
from apps.billing.services import webhook_endpoint_create
from apps.compute.models import VirtualMachine
from apps.compute.services import vm_delete_start, vm_order, vm_power_start
from apps.jobs import registry
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from tests.factories import make_network, make_plan, make_pool, make_ready_cluster, make_tenant
from workers.errors import HypervisorError

State = VirtualMachine.State


class FakeDriver:
    """A hypervisor that does what it is told, or fails at the call named in `fail_at`."""

    name = "fake"

    def __init__(self):
        self.fail_at: str = ""
        self.calls: list[str] = []

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if what == self.fail_at:
            raise HypervisorError(f"{what} failed (fake)")

    def create_if_missing(self, session, spec) -> bool:
        self._call("create_if_missing")
        return True

    def attach_and_start(self, session, spec) -> None:
        self._call("attach_and_start")

    def detach_network(self, session, spec) -> None:
        self._call("detach_network")

    def delete(self, session, spec) -> None:
        self._call("delete")

    def stop(self, session, spec) -> None:
        self._call("stop")


@pytest.fixture
def driver(monkeypatch) -> FakeDriver:
    """The VM workflows on a node that is a fake: no SSH, no BIRD, a fake hypervisor."""
    import apps.compute.workflows as workflows

    fake = FakeDriver()

    def apply_node_bird(run, session, node):
        with run.step("node_apply_bird") as step:
            step.log("bird.conf replaced (fake)")

    monkeypatch.setattr(workflows, "connect", lambda stack, node: object())
    monkeypatch.setattr(workflows, "node_driver", lambda node: fake)
    monkeypatch.setattr(workflows, "apply_node_bird", apply_node_bird)
    monkeypatch.setattr(workflows, "verify_export", lambda session, node, ipv4: "exported")
    return fake


@pytest.fixture
def world(db, settings):
    settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"),
              first="203.0.113.10", last="203.0.113.20")  # fmt: skip
    tenant = make_tenant(max_vms=10)
    webhook_endpoint_create(name="billing", url="http://127.0.0.1:9/hooks", tenant=tenant)
    return tenant, make_plan(), cluster


def run(job: Job) -> Job:
    """Run a queued job now, as the worker would, as its final attempt."""
    run_job(job.pk, registry.get(job.kind).function)
    job.refresh_from_db()
    return job


def order(world, name: str) -> VirtualMachine:
    tenant, plan, cluster = world
    vm = vm_order(tenant=tenant, plan=plan, cluster=cluster, name=name)
    run(Job.objects.get(kind="vm_create", target_id=vm.pk))
    vm.refresh_from_db()
    return vm


def ledger(vm) -> list[tuple[str, str]]:
    rows = UsageEvent.objects.filter(vm=vm, event_type=UsageEvent.Type.STATE).order_by("at", "pk")
    return [(row.previous_state, row.state) for row in rows]


def webhooks(vm) -> list[tuple[str, str]]:
    deliveries = WebhookDelivery.objects.filter(event__vm=vm).order_by("event__at", "event_id")
    seen = []
    for delivery in deliveries:
        data = json.loads(delivery.body)["data"]["vm"]
        seen.append((data["previous_state"] or "", data["state"]))
    return seen


def history(*states: str) -> list[tuple[str, str]]:
    """The ledger a VM that went through `states` has: each row names the one before."""
    return list(zip(("", *states[:-1]), states, strict=True))


def assert_saw(vm, *states: str) -> None:
    vm.refresh_from_db()
    assert vm.state == states[-1]
    assert ledger(vm) == history(*states)
    assert webhooks(vm) == history(*states)


def test_an_order_that_succeeds(world, driver):
    vm = order(world, "web1")
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.RUNNING)


def test_an_order_that_fails_is_undone_and_every_state_of_the_undo_is_announced(world, driver):
    driver.fail_at = "attach_and_start"
    vm = order(world, "web1")
    assert driver.calls == ["create_if_missing", "attach_and_start", "detach_network", "delete"]
    assert Job.objects.get(kind="vm_create").state == Job.State.FAILED
    # the undo withdraws the route as a delete does (the node's BIRD drops `deleting` VMs)
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.DELETING, State.FAILED)
    assert (vm.node_id, vm.vnet_name) == (None, "")


def test_stop_start_and_delete(world, driver):
    vm = order(world, "web1")
    assert run(vm_power_start(vm=vm, start=False)).state == Job.State.SUCCEEDED
    assert run(vm_power_start(vm=vm, start=True)).state == Job.State.SUCCEEDED
    assert run(vm_delete_start(vm=vm)).state == Job.State.SUCCEEDED
    assert driver.calls[-4:] == ["stop", "attach_and_start", "detach_network", "delete"]
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.RUNNING, State.STOPPING,
               State.STOPPED, State.STARTING, State.RUNNING, State.DELETING,
               State.DELETED)  # fmt: skip


def test_a_delete_that_fails_stays_deleting_and_a_second_delete_finishes(world, driver):
    vm = order(world, "web1")
    driver.fail_at = "delete"
    assert run(vm_delete_start(vm=vm)).state == Job.State.FAILED
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.RUNNING, State.DELETING)
    driver.fail_at = ""
    assert run(vm_delete_start(vm=vm)).state == Job.State.SUCCEEDED
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.RUNNING, State.DELETING,
               State.DELETED)  # fmt: skip


def test_a_stop_that_fails_goes_back_to_running_and_says_so(world, driver):
    vm = order(world, "web1")
    driver.fail_at = "stop"
    assert run(vm_power_start(vm=vm, start=False)).state == Job.State.FAILED
    assert_saw(vm, State.ORDERED, State.PROVISIONING, State.RUNNING, State.STOPPING,
               State.RUNNING)  # fmt: skip
