"""Retry and likely causes, below the API and the portal: every kind says how it is started
again, every device error the workflows raise has words, the runner records the error's class."""

import pytest
from django.core.exceptions import ValidationError

import apps.compute.reconcile
import apps.compute.workflows
import apps.fabric.workflows
import workers.firewall
import workers.junos
import workers.node_setup
from apps.compute.services import vm_delete_start
from apps.fabric.services import node_add_start
from apps.jobs import causes, registry
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from apps.jobs.selectors import likely_cause
from apps.jobs.services import job_start
from tests.factories import make_cluster, make_node, make_plan, make_tenant, make_vm
from workers.errors import DeviceError, NodeUnreachable

MODULES = (apps.compute.workflows, apps.compute.reconcile, apps.fabric.workflows, workers.firewall,
           workers.junos, workers.node_setup)  # fmt: skip


def subclasses(cls) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *subclasses(sub)}
    return found


def test_every_device_error_the_workflows_raise_has_a_likely_cause():
    assert MODULES  # imported: their exception classes are registered as subclasses
    ours = {c for c in subclasses(DeviceError) if c.__module__.startswith(("apps.", "workers."))}
    missing = sorted(c.__name__ for c in ours if c.__name__ not in causes.CAUSES)
    assert not missing, f"add these to apps/jobs/causes.py: {missing}"
    for name, cause in causes.CAUSES.items():
        assert cause.cause.endswith(".") and not cause.fix.endswith("."), name


def test_every_kind_is_restarted_or_says_why_not():
    for kind in registry.kinds():
        flow = registry.get(kind)
        assert flow.restart is not None or flow.no_restart, kind
    assert registry.get("vm_create").restart is None
    assert "order it again" in registry.get("vm_create").no_restart


@pytest.mark.django_db
def test_the_runner_records_the_class_of_the_error_and_the_cause_reads_it():
    job = job_start(kind="worker_check")

    def unreachable(run):
        with run.step("node_connect"):
            raise NodeUnreachable("ssh root@10.1.0.7:22: timed out")

    run_job(job.pk, unreachable)
    job.refresh_from_db()
    assert job.state == "failed" and job.error_type == "NodeUnreachable"
    found = likely_cause(job)
    assert "did not answer on SSH" in found.cause and found.next_step.endswith("then Retry.")


@pytest.mark.django_db
def test_a_job_failed_before_error_types_were_recorded_is_explained_from_its_error():
    error = "step node_verify_sessions failed: SessionsNotEstablished: not Established"
    job = Job.objects.create(kind="node_add", state="failed", error=error)
    assert "Established" in likely_cause(job).cause
    job.error = "something else"
    assert likely_cause(job).cause == causes.UNKNOWN.cause


@pytest.mark.django_db
def test_a_node_is_added_again_only_when_new_or_failed_and_not_busy():
    node = make_node(cluster=make_cluster(), state="failed")
    first = node_add_start(node=node)
    with pytest.raises(ValidationError, match=f"job #{first.pk}"):
        node_add_start(node=node)
    Job.objects.filter(pk=first.pk).update(state="failed")
    for state in ("ready", "draining", "removing"):
        node.state = state
        node.save(update_fields=["state"])
        with pytest.raises(ValidationError, match="only a new or failed node"):
            node_add_start(node=node)


@pytest.mark.django_db
def test_a_vm_whose_delete_failed_is_deleted_again():
    cluster = make_cluster()
    vm = make_vm(tenant=make_tenant(), plan=make_plan(), cluster=cluster, state="deleting",
                 node=make_node(cluster=cluster), vnet_name="vnet9")  # fmt: skip
    with pytest.raises(ValidationError, match="already deleting"):
        vm_delete_start(vm=vm)  # deleting, and no delete failed: one is under way
    job = job_start(kind="vm_delete", target=vm, tenant=vm.tenant)
    Job.objects.filter(pk=job.pk).update(state="failed")
    again = vm_delete_start(vm=vm)
    assert again.kind == "vm_delete" and again.pk != job.pk
    with pytest.raises(ValidationError, match="already deleting"):
        vm_delete_start(vm=vm)  # the new delete is under way
