"""Order to route: from `POST /api/v1/vms/` to the VM's /32 in the core's kernel table,
through the real worker, beside the floor measured in the same run: the same change made
by hand over one fresh SSH connection to the node (interface, route, the /32 added to
BIRD's static protocol, `birdc configure`) until the core has it."""

import os
import subprocess
import sys
import time

from bench.common import median, percentile, setup_django, table

setup_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402

from apps.compute.models import Plan  # noqa: E402
from apps.tenancy.models import Membership, Role, Tenant  # noqa: E402
from apps.tenancy.services import api_key_create  # noqa: E402
from bench.labbench import LAB_DIR, PREFIX, RouteWatch, add_node, bench_lab, provisioned_cluster  # noqa: E402
from lab.netns import lab_down  # noqa: E402

ORDERS = 20


def by_hand(lab, node_host, address: str, n: int, watch: RouteWatch) -> float:
    vnet = f"vhand{n}"
    script = (
        f"ip link add {vnet} type veth peer name {vnet}p && ip link set {vnet} up && "
        f"ip route replace {address}/32 dev {vnet} && "
        f"sed -i 's|^protocol static vms_v4 {{|&\\n  route {address}/32 via \"{vnet}\";|' "
        f"{node_host.bird_conf} && birdc -s {node_host.bird_socket} configure >/dev/null"
    )
    start = time.monotonic()
    subprocess.run(
        ["ssh", "-i", lab.ssh_key_path, "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         f"root@{node_host.address}", script],
        check=True,
    )  # fmt: skip
    return watch.wait(address) - start


def wait_done(job_id: int, timeout: float = 120) -> None:
    from apps.jobs.models import Job

    deadline = time.monotonic() + timeout
    while not Job.objects.filter(pk=job_id, state__in=["succeeded", "failed"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} did not finish")
        time.sleep(0.05)


def print_step_breakdown() -> None:
    """Where the time of vm_create goes: median seconds per step, and queue wait."""
    from apps.jobs.models import Job

    jobs = list(Job.objects.filter(kind="vm_create", state="succeeded").prefetch_related("steps"))
    waits = [(j.started - j.created).total_seconds() for j in jobs]
    durations: dict[str, list[float]] = {}
    for job in jobs:
        for step in job.steps.all():
            durations.setdefault(step.name, []).append(
                (step.finished - step.started).total_seconds()
            )
    rows = [["queued -> started", median(waits)]]
    rows += [[name, median(values)] for name, values in durations.items()]
    table(["vm_create part", "median s"], rows)
    print()


def main() -> None:
    lab = bench_lab(nodes=1)
    worker = None
    try:
        cluster = provisioned_cluster(lab)
        add_node(lab, cluster, "node1")
        tenant = Tenant.objects.create(name="route-bench", max_vms=1000)
        plan = Plan.objects.create(name="route-bench", vcpus=1, memory_mb=256, disk_gb=1)
        user = get_user_model().objects.create_user("route-bench")
        Membership.objects.create(user=user, tenant=tenant, role=Role.TENANT_USER)
        _, secret = api_key_create(name="route-bench", user=user)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fabric_portal", "worker", "--pool=solo",
             "--loglevel=WARNING", "--without-mingle", "--without-gossip"],
            env={**os.environ},
        )  # fmt: skip
        time.sleep(5)
        watch = RouteWatch(lab)
        product = []
        for i in range(ORDERS):
            start = time.monotonic()
            response = client.post("/api/v1/vms/", {"plan": plan.pk, "cluster": cluster.pk,
                                   "name": f"r{i}"}, content_type="application/json")  # fmt: skip
            assert response.status_code == 202, response.content
            address = response.json()["ipv4"]
            product.append(watch.wait(address) - start)
            wait_done(response.json()["job"]["id"])  # one order at a time, as measured
        floor = [by_hand(lab, lab.hosts["node1"], f"203.0.113.{230 + i}", i, watch)
                 for i in range(ORDERS)]  # fmt: skip
        watch.close()
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=30)
        lab_down(directory=LAB_DIR, prefix=PREFIX)
    print_step_breakdown()
    table(["path", "orders", "median s", "p95 s", "median / floor median"],
          [["POST /api/v1/vms/ -> core route", ORDERS, median(product),
            percentile(product, 95), median(product) / median(floor)],
           ["by hand over one fresh SSH (floor)", ORDERS, median(floor), percentile(floor, 95),
            1.0]])  # fmt: skip


if __name__ == "__main__":
    main()
