"""A worker killed in the middle of an order: the time from the SIGKILL (during
`hypervisor_create`) until the VM's /32 is in the core's kernel table, for the killed order
and for a second order on the same node queued behind it, beside the time of an undisturbed
order. Production defaults (broker visibility 3600 s, device lock 600 s, heartbeat 5 s,
orphan threshold 30 s); beat's `jobs.resume_orphans` is played by this script at beat's
interval (every FABRIC_JOB_HEARTBEAT_SECONDS)."""

import os
import signal
import subprocess
import sys
import time

from bench.common import median, setup_django, table

setup_django()

from django.conf import settings  # noqa: E402

from apps.compute.models import Plan  # noqa: E402
from apps.compute.services import vm_order  # noqa: E402
from apps.jobs.models import Job, JobStep  # noqa: E402
from apps.jobs.services import job_resume_orphans  # noqa: E402
from apps.tenancy.models import Tenant  # noqa: E402
from bench.labbench import LAB_DIR, PREFIX, RouteWatch, add_node, bench_lab, provisioned_cluster  # noqa: E402
from lab.netns import lab_down  # noqa: E402

ROUNDS = 5


def start_worker() -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "fabric_portal", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-mingle", "--without-gossip"],
        env={**os.environ},
    )  # fmt: skip
    time.sleep(4)  # connected to the broker
    return worker


def wait_until(condition, timeout: float, what: str, *, sweep: bool = False) -> None:
    deadline, next_sweep = time.monotonic() + timeout, 0.0
    while not condition():
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(what)
        if sweep and now >= next_sweep:  # beat's entry
            job_resume_orphans()
            next_sweep = now + settings.FABRIC_JOB_HEARTBEAT_SECONDS
        time.sleep(0.02)


def order(cluster, tenant, plan, name: str):
    vm = vm_order(tenant=tenant, plan=plan, cluster=cluster, name=name)
    job = Job.objects.get(kind="vm_create", target_id=vm.pk)
    return vm, vm.ip_addresses.get(family=4).address, job


def main() -> None:
    lab = bench_lab(nodes=1)
    worker = None
    undisturbed, killed, queued = [], [], []
    try:
        cluster = provisioned_cluster(lab)
        add_node(lab, cluster, "node1")
        tenant = Tenant.objects.create(name="kill-bench", max_vms=1000)
        plan = Plan.objects.create(name="kill-bench", vcpus=1, memory_mb=256, disk_gb=1)
        watch = RouteWatch(lab)
        worker = start_worker()
        for i in range(ROUNDS):
            start = time.monotonic()
            _, address, _ = order(cluster, tenant, plan, f"calm{i}")
            undisturbed.append(watch.wait(address) - start)
        for i in range(ROUNDS):
            vm, address, job = order(cluster, tenant, plan, f"kill{i}")
            _, behind_address, _ = order(cluster, tenant, plan, f"behind{i}")
            wait_until(lambda job=job: JobStep.objects.filter(job=job, name="hypervisor_create")
                       .exists(), 60, "never reached hypervisor_create")  # fmt: skip
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            killed_at = time.monotonic()
            worker = start_worker()
            wait_until(lambda job=job: Job.objects.filter(pk=job.pk, state="succeeded").exists(),
                       180, f"the killed order {job.pk} never finished", sweep=True)  # fmt: skip
            killed.append(watch.wait(address) - killed_at)
            queued.append(watch.wait(behind_address, timeout=120) - killed_at)
            assert Job.objects.get(pk=job.pk).attempts == 2
        watch.close()
    finally:
        if worker and worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
        lab_down(directory=LAB_DIR, prefix=PREFIX)
    table(["order", "runs", "median s", "max s"],
          [["undisturbed: order -> core route", ROUNDS, median(undisturbed), max(undisturbed)],
           ["killed in hypervisor_create: kill -> core route", ROUNDS, median(killed),
            max(killed)],
           ["second order on the node: kill -> core route", ROUNDS, median(queued),
            max(queued)]])  # fmt: skip


if __name__ == "__main__":
    main()
