"""The worker is killed (SIGKILL) in the middle of vm_create's hypervisor_create: its
heartbeat stops, the job is resumed on another worker and completes, with no duplicate
vnet, route, VM or address.

The broker's visibility timeout (3600 s) and the device lock's lifetime (600 s) keep their
production defaults: the recovery comes from the heartbeat (short here) alone."""

import signal
from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.ipam.models import IPAddress
from apps.jobs.models import Job, JobStep
from apps.jobs.services import job_resume_orphans
from tests.conftest import start_celery_worker, stop_celery_worker, wait_for
from tests.e2e.conftest import assert_succeeded
from tests.factories import make_plan, make_tenant

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

# A killed worker's job is resumed once its heartbeat is ORPHAN seconds old.
ORPHAN = 4
FAST_HEARTBEAT = {"FABRIC_JOB_HEARTBEAT_SECONDS": "1", "FABRIC_JOB_ORPHAN_SECONDS": str(ORPHAN)}


def test_vm_create_survives_a_killed_worker(lab, provisioned_cluster, tmp_path, settings):
    cluster = provisioned_cluster
    settings.FABRIC_TASK_QUEUE = "faults"  # only the workers of this test consume it
    settings.FABRIC_JOB_ORPHAN_SECONDS = ORPHAN
    first = start_celery_worker(tmp_path / "first.log", name="doomed", queues="faults",
                                env=FAST_HEARTBEAT)  # fmt: skip
    try:
        vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="lazarus")
        job = Job.objects.get(target_id=vm.pk, kind="vm_create")
        wait_for(
            lambda: JobStep.objects.filter(job=job, name="hypervisor_create").exists(),
            timeout=60, interval=0.02, message="vm_create never reached hypervisor_create",
        )  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            stop_celery_worker(first)
    job.refresh_from_db()
    assert job.state == "running"  # nobody finished it

    second = start_celery_worker(tmp_path / "second.log", name="heir", queues="faults",
                                 env=FAST_HEARTBEAT)  # fmt: skip
    try:
        # beat's sweep, played by the test: the lost attempt is found, its node lock freed
        wait_for(job_resume_orphans, timeout=30, interval=0.5,
                 message="the killed worker's job was never found orphaned")  # fmt: skip
        job = wait_for(
            lambda: Job.objects.filter(pk=job.pk, state__in=["succeeded", "failed"]).first(),
            timeout=120, message="the resumed job never finished",
        )  # fmt: skip
    finally:
        stop_celery_worker(second)

    assert_succeeded(job)
    assert job.attempts == 2
    lost = job.steps.get(name="attempt_lost")
    assert lost.attempt == 1
    assert lost.data["worker"].endswith(f":{first.pid}")
    vm.refresh_from_db()
    assert vm.state == "running"
    address = vm.ip_addresses.get().address
    assert IPAddress.objects.filter(vm=vm).count() == 1
    assert VirtualMachine.objects.filter(name="lazarus").count() == 1
    node = lab.hosts[vm.node.name]
    assert node.run("ip -o link show").stdout.count(f"{vm.vnet_name}@") == 1
    assert node.run("ip route show").stdout.count(f"{address} dev {vm.vnet_name}") == 1
    assert Path(node.bird_conf).read_text().count(f"route {address}/32") == 1


def test_two_workers_on_one_node_take_turns_and_bird_conf_holds_every_vm(
    lab, provisioned_cluster, tmp_path, settings
):
    settings.FABRIC_TASK_QUEUE = "faults"
    workers = [start_celery_worker(tmp_path / f"w{i}.log", name=f"twin{i}", queues="faults")
               for i in range(2)]  # fmt: skip
    try:
        tenant, plan = make_tenant(), make_plan()
        vms = [vm_order(tenant=tenant, plan=plan, cluster=provisioned_cluster, name=f"twin{i}")
               for i in range(4)]  # fmt: skip
        jobs = [Job.objects.get(target_id=vm.pk, kind="vm_create") for vm in vms]
        wait_for(
            lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], state="succeeded").count() == 4,
            timeout=180, message="the four VMs were not all created",
        )  # fmt: skip
    finally:
        for worker in workers:
            stop_celery_worker(worker)
    ran_by = {Job.objects.get(pk=j.pk).celery_task_id for j in jobs}
    assert len(ran_by) == 4
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    assert all("jobs.run" in log for log in logs)  # both workers took some
    conf = Path(lab.hosts["node1"].bird_conf).read_text()
    for vm in vms:
        assert f"route {vm.ip_addresses.get().address}/32" in conf
