"""The lab (network namespaces, sshd, BIRD 2, the Junos simulator) as a pytest fixture."""

import json
import subprocess
from pathlib import Path

import netaddr
import pytest

from apps.fabric.models import Cluster, Node
from apps.fabric.services import node_create
from apps.fabric.workflows import cluster_provision, node_add
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from apps.jobs.services import job_create
from lab.netns import Lab, lab_clear_guests
from lab.seeding.records import lab_cluster, lab_node_fields
from tests.conftest import wait_for
from workers.ssh import SSHSession, SSHTarget


@pytest.fixture(autouse=True)
def _no_guests_of_earlier_tests(request):
    """Each lab test starts without netns guests or vnets on the nodes: an earlier test's
    database was rolled back, but what its guests left on the nodes was not (a stale
    `/32 dev vnet` route would send another test's traffic into a vnet the filter closes)."""
    if "lab" in request.fixturenames:
        lab_clear_guests(request.getfixturevalue("lab"))


def spare_address(lab: Lab, index: int) -> str:
    """An address of the lab's underlay that no lab host uses (for phantom peers)."""
    return str(netaddr.IPNetwork(lab.underlay)[index])


def birdc(lab: Lab, host: str, command: str) -> str:
    socket = lab.hosts[host].bird_socket
    return subprocess.run(
        ["birdc", "-s", socket, *command.split()], capture_output=True, text=True, check=False
    ).stdout


def core_routes(lab: Lab) -> dict[str, str]:
    """The core's kernel routes learned by BIRD: {prefix: next hop}."""
    out = lab.core.run("ip -4 route show proto bird").stdout
    routes = {}
    for line in out.splitlines():
        parts = line.split()
        if "via" in parts:
            routes[parts[0] if "/" in parts[0] else parts[0] + "/32"] = parts[
                parts.index("via") + 1
            ]
    return routes


def junos_committed(lab: Lab) -> list[str]:
    """The simulator's committed configuration, as set lines."""
    return json.loads(Path(lab.junos_dir, "committed.json").read_text())


def junos_events(lab: Lab) -> list[str]:
    """What the simulator did, oldest first: commit_check, commit_confirmed, rollback..."""
    return [e["event"] for e in json.loads(Path(lab.junos_dir, "events.json").read_text())]


def ping(lab: Lab, host_namespace: str, address: str) -> bool:
    result = subprocess.run(
        ["ip", "netns", "exec", host_namespace, "ping", "-c", "1", "-W", "2", address],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0


def wait_job(job_or_target, kind: str | None = None, timeout: float = 120) -> Job:
    def done():
        if isinstance(job_or_target, Job):
            query = Job.objects.filter(pk=job_or_target.pk)
        else:
            query = Job.objects.filter(target_id=job_or_target.pk, kind=kind)
        return query.filter(state__in=["succeeded", "failed"]).order_by("-pk").first()

    job = wait_for(done, timeout=timeout, interval=0.2, message=f"job {kind} did not finish")
    return job


def assert_succeeded(job: Job) -> None:
    steps = "\n".join(f"  {s.name}: {s.state} {s.output.strip()[-300:]}" for s in job.steps.all())
    assert job.state == "succeeded", f"{job} failed: {job.error}\n{steps}"


def build_cluster(lab, *, group: str = "VM") -> Cluster:
    """A cluster on the lab: public network and pool, the simulator as border gateway, RRs."""
    return lab_cluster(lab, group=group, last="203.0.113.20")


def add_node(lab, cluster: Cluster, name: str) -> Node:
    return node_create(cluster=cluster, **lab_node_fields(lab, name))


def run_inline(kind: str, target, workflow) -> Job:
    job = job_create(kind=kind, target=target)
    run_job(job.pk, workflow)
    job.refresh_from_db()
    return job


def lab_session(lab, name: str) -> SSHSession:
    host = lab.hosts[name]
    return SSHSession(
        SSHTarget(
            host=host.address, private_key=lab.ssh_private_key, known_host_key=lab.host_key(name)
        )
    )


def _provision(lab) -> Cluster:
    cluster = build_cluster(lab)
    assert_succeeded(run_inline("cluster_provision", cluster, cluster_provision))
    node = Node.objects.create(cluster=cluster, **lab_node_fields(lab, "node1"))
    assert_succeeded(run_inline("node_add", node, node_add))
    return cluster


@pytest.fixture
def ready_cluster(lab, db) -> Cluster:
    """A provisioned cluster (RRs, border gateway) with node1 ready, built in-process."""
    return _provision(lab)


@pytest.fixture
def provisioned_cluster(lab, transactional_db) -> Cluster:
    """The same, committed, for tests where worker processes read the database."""
    return _provision(lab)
