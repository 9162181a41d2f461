"""The worker is killed (SIGKILL) in the middle of vm_create: the task is delivered again
to another worker and completes, with no duplicate vnet, route, VM or address."""

import signal
from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.ipam.models import IPAddress
from apps.jobs.models import Job, JobStep
from tests.conftest import start_celery_worker, stop_celery_worker, wait_for
from tests.e2e.conftest import assert_succeeded
from tests.factories import make_plan, make_tenant

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

# Redelivery of an unacknowledged task waits for the visibility timeout, and the killed
# worker's device lock for its expiry: both short here.
FAST_RECOVERY = {"CELERY_VISIBILITY_TIMEOUT": "5", "FABRIC_DEVICE_LOCK_SECONDS": "8"}


def test_vm_create_survives_a_killed_worker(lab, provisioned_cluster, tmp_path, settings):
    cluster = provisioned_cluster
    settings.FABRIC_TASK_QUEUE = "faults"  # only the workers of this test consume it
    first = start_celery_worker(tmp_path / "first.log", name="doomed", queues="faults",
                                env=FAST_RECOVERY)  # fmt: skip
    try:
        vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="lazarus")
        job = Job.objects.get(target_id=vm.pk, kind="vm_create")
        wait_for(
            lambda: JobStep.objects.filter(job=job, name="network_attach").exists(),
            timeout=60, interval=0.02, message="vm_create never reached network_attach",
        )  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            stop_celery_worker(first)
    job.refresh_from_db()
    assert job.state == "running"  # nobody finished it

    second = start_celery_worker(tmp_path / "second.log", name="heir", queues="faults",
                                 env=FAST_RECOVERY)  # fmt: skip
    try:
        job = wait_for(
            lambda: Job.objects.filter(pk=job.pk, state__in=["succeeded", "failed"]).first(),
            timeout=120, message="the task was not delivered again",
        )  # fmt: skip
    finally:
        stop_celery_worker(second)

    assert_succeeded(job)
    assert job.attempts == 2
    vm.refresh_from_db()
    assert vm.state == "running"
    address = vm.ip_addresses.get().address
    assert IPAddress.objects.filter(vm=vm).count() == 1
    assert VirtualMachine.objects.filter(name="lazarus").count() == 1
    node = lab.hosts[vm.node.name]
    assert node.run("ip -o link show").stdout.count(f"{vm.vnet_name}@") == 1
    assert node.run("ip route show").stdout.count(f"{address} dev {vm.vnet_name}") == 1
    assert Path(node.bird_conf).read_text().count(f"route {address}/32") == 1
