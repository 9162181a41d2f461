"""Lab set-up shared by the benchmarks that need real routers: a lab of their own, a cluster
provisioned in-process (the code a worker runs), and helpers to watch the core's routes."""

import os
import subprocess
import threading
import time
from pathlib import Path

from apps.fabric.models import Cluster, Node
from apps.fabric.workflows import cluster_provision, node_add
from apps.jobs.runner import run_job
from apps.jobs.services import job_create
from lab.netns import Lab, free_underlay, lab_down, lab_up
from lab.seeding.records import lab_cluster, lab_node_fields

LAB_DIR = Path(os.environ.get("FABRIC_BENCH_LAB_DIR", "/tmp/fabric-bench-lab"))  # noqa: S108
PREFIX = "fb"


def bench_lab(nodes: int = 2) -> Lab:
    """A fresh lab, and a database emptied of earlier benchmarks' records."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    lab_down(directory=LAB_DIR, prefix=PREFIX)
    underlay = free_underlay([f"198.18.{n}.0/24" for n in range(200, 256)])
    return lab_up(directory=LAB_DIR, prefix=PREFIX, nodes=nodes, underlay=underlay,
                  junos_minute_seconds=60.0)  # fmt: skip


def run_inline(kind: str, target, workflow):
    job = job_create(kind=kind, target=target)
    run_job(job.pk, workflow)
    job.refresh_from_db()
    if job.state != "succeeded":
        raise RuntimeError(f"{kind} failed: {job.error}")
    return job


def provisioned_cluster(lab: Lab, *, pool_size: int = 200) -> Cluster:
    cluster = lab_cluster(lab, name=f"bench{int(time.time())}",
                          last=f"203.0.113.{10 + pool_size - 1}")  # fmt: skip
    run_inline("cluster_provision", cluster, cluster_provision)
    return cluster


def add_node(lab: Lab, cluster: Cluster, name: str) -> Node:
    node = Node.objects.create(cluster=cluster, **lab_node_fields(
        lab, name, vcpus=64, memory_mb=262144, disk_gb=4000))  # fmt: skip
    run_inline("node_add", node, node_add)
    return node


class RouteWatch:
    """`ip -ts monitor route` in the core: when each /32 appeared (monotonic seconds)."""

    def __init__(self, lab: Lab):
        self.seen: dict[str, float] = {}
        self._process = subprocess.Popen(
            ["ip", "netns", "exec", lab.core.namespace, "ip", "monitor", "route"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            if line.startswith("Deleted"):
                continue
            prefix = line.split()[0] if line.strip() else ""
            if prefix and prefix not in self.seen:
                self.seen[prefix.removesuffix("/32")] = time.monotonic()

    def wait(self, address: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while address not in self.seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} never reached the core")
            time.sleep(0.001)
        return self.seen[address]

    def close(self) -> None:
        self._process.terminate()
