"""The workflow registry: one list of job kinds, one task that runs any of them."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.jobs import registry
from apps.jobs.models import Job
from apps.jobs.services import job_create
from apps.jobs.tasks import LEGACY_TASK_NAMES, run_job_task
from fabric_portal.celery import app
from tests.factories import make_tenant
from workers.errors import NodeUnreachable

ROOT = Path(__file__).resolve().parents[2]

KINDS = {
    "worker_check",
    "cluster_provision",
    "node_add",
    "node_remove",
    "route_reflector_remove",
    "vm_create",
    "vm_delete",
    "vm_start",
    "vm_stop",
    "border_gateway_sync",
    "border_gateway_preview",
    "reconcile",
}


@pytest.fixture
def test_kind(monkeypatch):
    """Register a `test_kind` workflow for one test; `calls` lists the job ids it ran."""
    calls, behaviour = [], {"raise": None, "max_retries": None}

    def body(run):
        calls.append(run.job.pk)
        with run.step("probe"):
            if behaviour["raise"]:
                raise behaviour["raise"]

    def register(**policy):
        behaviour.update(policy)
        flow = registry.Workflow("test_kind", "Test", body, None, behaviour["max_retries"])
        monkeypatch.setitem(registry._workflows, "test_kind", flow)

    register()
    return calls, register


def test_every_kind_in_the_db_choices_has_a_workflow_and_every_workflow_a_choice():
    choices = {value for value, _ in Job._meta.get_field("kind").choices}
    assert choices == set(registry.kinds()) == KINDS
    for kind in registry.kinds():
        flow = registry.get(kind)
        assert callable(flow.function) and flow.label
        assert flow.function.__module__.startswith("apps.")
        assert len(kind) <= Job._meta.get_field("kind").max_length


def test_every_kind_a_service_starts_is_registered():
    used = set()
    for path in (ROOT / "apps").rglob("*.py"):
        if "tests" not in path.parts:
            used |= set(re.findall(r'job_(?:start|create)\(\s*kind="(\w+)"', path.read_text()))
    assert used and used <= set(registry.kinds())


def test_targets_name_real_models():
    from django.apps import apps

    for kind in registry.kinds():
        target = registry.get(kind).target
        if target is not None:
            assert apps.get_model(target), kind


def test_labels_come_from_the_registry():
    job = Job(kind="vm_create")
    assert job.get_kind_display() == "Create VM"


@pytest.mark.django_db
def test_a_job_of_an_unknown_kind_or_on_the_wrong_target_is_refused():
    with pytest.raises(registry.UnknownKind):
        job_create(kind="vm_explode")
    with pytest.raises(ValidationError, match="compute.VirtualMachine"):
        job_create(kind="vm_create", target=make_tenant())


def test_a_kind_cannot_be_registered_twice_by_another_function():
    with pytest.raises(ValueError, match="already registered"):
        registry.workflow("vm_create", label="Another")(lambda run: None)


def test_the_worker_knows_the_one_task_the_legacy_names_and_every_beat_entry():
    app.loader.import_default_modules()
    assert "jobs.run" in app.tasks
    assert set(LEGACY_TASK_NAMES) <= set(app.tasks)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name}: unknown task {entry['task']}"


def test_a_fresh_process_loading_the_celery_app_like_the_worker_knows_every_kind():
    script = (
        "from fabric_portal.celery import app; app.loader.import_default_modules(); "
        "from apps.jobs import registry; print('jobs.run' in app.tasks, *registry.kinds())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", *sorted(KINDS)]


@pytest.mark.django_db
def test_the_one_task_runs_the_registered_workflow_by_job_id(test_kind):
    calls, _ = test_kind
    job = job_create(kind="test_kind")

    result = run_job_task.apply(args=[job.pk], task_id="task-7")

    assert result.successful()
    job.refresh_from_db()
    assert calls == [job.pk]
    assert (job.state, job.attempts, job.celery_task_id) == (Job.State.SUCCEEDED, 1, "task-7")


@pytest.mark.django_db
def test_a_legacy_task_name_runs_the_job_the_same_way(test_kind):
    calls, _ = test_kind
    job = job_create(kind="test_kind")

    app.tasks["compute.vm_create"].apply(args=[job.pk])

    job.refresh_from_db()
    assert calls == [job.pk] and job.state == Job.State.SUCCEEDED


@pytest.mark.django_db
def test_a_transient_failure_is_retried_with_backoff_then_fails(test_kind, monkeypatch):
    calls, register = test_kind
    register(**{"raise": NodeUnreachable("node1: connection refused")})
    monkeypatch.setattr(settings, "FABRIC_TASK_MAX_RETRIES", 2)
    waits = []  # Celery's own backoff, as its autoretry computes it
    monkeypatch.setattr(
        "celery.app.autoretry.get_exponential_backoff_interval",
        lambda **kw: waits.append(kw) or 0,
    )
    job = job_create(kind="test_kind")

    run_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert len(calls) == 3  # the first try and two retries, the last one final
    assert [wait["retries"] for wait in waits] == [0, 1]
    assert waits[0] == {"factor": max(1, int(settings.FABRIC_RETRY_BASE_SECONDS)), "retries": 0,
                        "maximum": 300, "full_jitter": True}  # fmt: skip
    assert job.state == Job.State.FAILED and job.attempts == 3
    assert "step probe failed: NodeUnreachable" in job.error


@pytest.mark.django_db
def test_a_workflow_may_declare_its_own_retries(test_kind, monkeypatch):
    calls, register = test_kind
    register(**{"raise": NodeUnreachable("down"), "max_retries": 0})
    monkeypatch.setattr("celery.app.autoretry.get_exponential_backoff_interval", lambda **kw: 0)
    job = job_create(kind="test_kind")

    run_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert len(calls) == 1 and job.state == Job.State.FAILED
