"""Stop and start go through `stopping` / `starting`: set when queued, left when done; a
failed attempt puts the VM back where it was; billing counts them as the state they leave."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

import apps.compute.workflows as compute_workflows
from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.billing.selectors import usage_summary
from apps.compute.models import VirtualMachine
from apps.compute.services import vm_power_start, vm_set_state
from apps.ipam.models import IPAddress
from apps.jobs.runner import run_job
from apps.jobs.services import job_start
from tests.factories import make_network, make_node, make_pool, make_ready_cluster, make_vm
from workers.errors import DeviceError

pytestmark = pytest.mark.django_db


class FakeDriver:
    name = "fake"

    def __init__(self, fail: bool = False):
        self.fail, self.calls = fail, []

    def stop(self, session, spec):
        self.calls.append(("stop", spec.guest_id))
        if self.fail:
            raise DeviceError("the hypervisor refused")

    def attach_and_start(self, session, spec):
        self.calls.append(("start", spec.guest_id))
        if self.fail:
            raise DeviceError("the hypervisor refused")


@pytest.fixture
def vm():
    cluster = make_ready_cluster()
    node = make_node(cluster=cluster, state="ready", hypervisor="netns")
    vm = make_vm(cluster=cluster, node=node, vnet_name="vnet9", state="running")
    pool = make_pool(network=make_network(cluster=cluster))
    IPAddress.objects.create(pool=pool, address=pool.first_address, family=4, vm=vm,
                             status=IPAddress.Status.ALLOCATED)  # fmt: skip
    return vm


@pytest.fixture
def driver(monkeypatch):
    fake = FakeDriver()
    monkeypatch.setattr(compute_workflows, "node_driver", lambda node: fake)
    monkeypatch.setattr(compute_workflows, "connect", lambda stack, node: object())
    return fake


def states(vm) -> list[str]:
    return list(
        UsageEvent.objects.filter(vm_id=vm.pk, event_type="state").values_list("state", flat=True)
    )


@pytest.mark.parametrize("start", [False, True])
def test_the_transitional_state_is_set_when_queued_and_left_when_done(vm, driver, start):
    if start:
        VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped")
    job = vm_power_start(vm=vm, start=start)
    vm.refresh_from_db()
    assert vm.state == ("starting" if start else "stopping")
    run_job(job.pk, compute_workflows.vm_start if start else compute_workflows.vm_stop)
    vm.refresh_from_db()
    assert vm.state == ("running" if start else "stopped")
    assert driver.calls == [("start" if start else "stop", str(vm.pk))]
    assert states(vm)[-2:] == (["starting", "running"] if start else ["stopping", "stopped"])


@pytest.mark.parametrize("start", [False, True])
def test_a_failed_stop_or_start_puts_the_vm_back(vm, driver, start):
    if start:
        VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped")
    driver.fail = True
    job = vm_power_start(vm=vm, start=start)
    run_job(job.pk, compute_workflows.vm_start if start else compute_workflows.vm_stop)
    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == "failed" and "the hypervisor refused" in job.error
    assert vm.state == ("stopped" if start else "running")
    # and it can be tried again (the Retry of the failed job goes through the same service)
    vm_power_start(vm=vm, start=start)


def test_a_stop_queued_without_the_service_still_passes_through_stopping(vm, driver):
    job = job_start(kind="vm_stop", target=vm, tenant=vm.tenant)
    run_job(job.pk, compute_workflows.vm_stop)
    vm.refresh_from_db()
    assert vm.state == "stopped" and states(vm)[-2:] == ["stopping", "stopped"]


def test_transitional_states_may_be_deleted_but_not_started_or_stopped(vm):
    job = vm_power_start(vm=vm, start=False)
    for start in (True, False):  # the stop is under way
        with pytest.raises(ValidationError, match="stop"):
            vm_power_start(vm=vm, start=start)
    vm_set_state(vm, "deleting")
    assert vm.state == "deleting" and job.state == "queued"


def test_a_vm_left_stopping_by_a_lost_job_may_be_stopped_again_not_started(vm, driver):
    vm_set_state(vm, "stopping")  # its job was lost (no job acts on the VM)
    with pytest.raises(ValidationError, match="stopping"):
        vm_power_start(vm=vm, start=True)
    job = vm_power_start(vm=vm, start=False)
    run_job(job.pk, compute_workflows.vm_stop)
    vm.refresh_from_db()
    assert vm.state == "stopped" and driver.calls == [("stop", str(vm.pk))]


T0 = datetime(2025, 5, 1, tzinfo=UTC)


def test_billing_counts_stopping_as_running_and_starting_as_stopped(vm):
    def record(hours: float, state: str):
        UsageEvent.objects.create(
            tenant_id=vm.tenant_id, vm_id=vm.pk, plan_id=vm.plan_id, plan_name=vm.plan.name,
            kind=vm.plan.kind, event_type="state", state=state, at=T0 + timedelta(hours=hours),
        )  # fmt: skip

    for hours, state in ((0, "running"), (1, "stopping"), (2, "stopped"), (4, "starting"),
                         (7, "running")):  # fmt: skip
        record(hours, state)
    (line,) = usage_summary(start=T0, end=T0 + timedelta(hours=8), now=T0 + timedelta(days=1))
    assert line.running == timedelta(hours=1 + 1 + 1)  # running, stopping, running again
    assert line.stopped == timedelta(hours=2 + 3)  # stopped, starting
    assert line.provisioned == timedelta(hours=8)


def test_webhooks_are_told_of_each_state_a_stop_passes_through(vm, driver):
    WebhookEndpoint.objects.create(name="billing", url="https://billing.example.net/hook",
                                   secret="whsec_test")  # fmt: skip
    job = vm_power_start(vm=vm, start=False)
    run_job(job.pk, compute_workflows.vm_stop)
    sent = [json.loads(d.body)["data"]["vm"] for d in WebhookDelivery.objects.order_by("pk")]
    assert [(s["previous_state"], s["state"]) for s in sent] == [
        ("running", "stopping"), ("stopping", "stopped"),
    ]  # fmt: skip
