"""What a VM order costs on the node: each vm_create step that changes it is one remote
command (one SSH round trip), and the order's steps keep their names and logs."""

from collections import Counter
from contextlib import contextmanager

import pytest

from apps.compute.services import vm_order
from apps.compute.workflows import vm_create
from apps.jobs.models import Job
from apps.jobs.runner import JobRun, run_job
from tests.factories import make_plan, make_tenant
from workers.ssh import SSHSession

pytestmark = pytest.mark.lab


@pytest.fixture
def commands_per_step(monkeypatch) -> Counter:
    """Counts the SSH commands run inside each job step of this process, by step name."""
    counts: Counter = Counter()
    current: list[str] = []
    step, run = JobRun.step, SSHSession.run

    @contextmanager
    def counting_step(self, name):
        current.append(name)
        try:
            with step(self, name) as recorder:
                yield recorder
        finally:
            current.pop()

    def counting_run(self, command, **kwargs):
        counts[current[-1] if current else None] += 1
        return run(self, command, **kwargs)

    monkeypatch.setattr(JobRun, "step", counting_step)
    monkeypatch.setattr(SSHSession, "run", counting_run)
    return counts


def test_hypervisor_create_network_attach_and_node_apply_bird_are_one_round_trip_each(
    lab, ready_cluster, commands_per_step
):
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="swift")
    job = Job.objects.get(target_id=vm.pk, kind="vm_create")

    run_job(job.pk, vm_create)

    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert commands_per_step["hypervisor_create"] == 1
    assert commands_per_step["network_attach"] == 1
    assert commands_per_step["node_apply_bird"] == 1
    assert commands_per_step["verify_export"] >= 1
    steps = {s.name: (s.state, s.output) for s in job.steps.all()}
    assert list(steps) == ["ip_allocate", "place", "hypervisor_create", "network_attach",
                           "node_apply_bird", "verify_export"]  # fmt: skip
    address = vm.ip_addresses.get().address
    assert steps["hypervisor_create"] == ("succeeded", f"netns guest {vm.pk} created\n")
    assert steps["network_attach"] == (
        "succeeded",
        f"{vm.vnet_name} is {ready_cluster.gateway_ipv4} ({ready_cluster.gateway_mac})\n"
        f"route {address}/32 dev {vm.vnet_name}\n",
    )
