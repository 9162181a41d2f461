"""States change only through each model's *_set_state and its transition table, and every
change (a worker's too) is in the change log."""

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType

from apps.changes.models import ObjectChange
from apps.core.services import InvalidTransition
from apps.fabric.models import Node, RouteReflector
from apps.fabric.services import (
    cluster_provision_start,
    devices_mark_failed,
    node_drain,
    node_set_state,
    route_reflector_set_state,
)
from apps.fabric.workflows import cluster_provision
from apps.jobs.models import Job
from apps.jobs.runner import job_set_state, run_job
from apps.jobs.services import job_create
from tests.factories import make_cluster, make_node, make_rr

pytestmark = pytest.mark.django_db

UNREACHABLE = {"ssh_host": "127.0.0.1", "ssh_port": 2, "ssh_private_key": "",
               "ssh_password": "not-used"}  # fmt: skip


def models_with_states():
    return [m for m in apps.get_models() if hasattr(m, "State") and hasattr(m, "TRANSITIONS")]


def test_every_model_with_states_has_a_transition_table_naming_only_its_states():
    with_a_state_field = {
        m for m in apps.get_models() if "state" in {f.name for f in m._meta.concrete_fields}
    }
    tables = set(models_with_states())
    # the ledger copies a VM's state, BGP sessions record what BIRD said; deliveries and job
    # steps record how their one attempt went, written by the service that makes it
    assert with_a_state_field - tables == {
        apps.get_model("billing.UsageEvent"), apps.get_model("fabric.BgpSessionState"),
        apps.get_model("billing.WebhookDelivery"), apps.get_model("jobs.JobStep"),
    }  # fmt: skip
    for model in tables:
        states = set(model.State.values)
        assert set(model.TRANSITIONS) == states, model
        for source, targets in model.TRANSITIONS.items():
            assert targets <= states and source not in targets, (model, source)


def state_changes(obj) -> list[list[str]]:
    """The state changes of `obj` in the change log, oldest first."""
    content_type = ContentType.objects.get_for_model(obj)
    rows = ObjectChange.objects.filter(
        content_type=content_type, object_id=obj.pk, action=ObjectChange.Action.UPDATE
    ).order_by("timestamp", "id")
    return [row.changes_dict["state"] for row in rows if "state" in row.changes_dict]


def test_a_failed_provisioning_is_in_the_change_log_step_by_step():
    cluster = make_cluster()
    rr = make_rr(cluster=cluster, name="rr-a", **UNREACHABLE)
    job = cluster_provision_start(cluster=cluster)
    run_job(job.pk, cluster_provision, final_attempt=True)
    assert state_changes(cluster) == [["new", "provisioning"], ["provisioning", "failed"]]
    assert state_changes(rr) == [["new", "provisioning"], ["provisioning", "failed"]]


def test_a_change_the_table_forbids_is_refused_and_nothing_is_written():
    node = make_node(state=Node.State.READY)
    with pytest.raises(InvalidTransition, match="from ready to failed"):
        node_set_state(node, Node.State.FAILED)
    assert node_set_state(node, Node.State.FAILED, if_allowed=True) is None
    node.refresh_from_db()
    assert node.state == Node.State.READY and state_changes(node) == []
    node_drain(node)
    assert state_changes(node) == [["ready", "draining"]]


def test_the_stored_state_decides_not_the_callers_copy():
    rr = make_rr(state=RouteReflector.State.PROVISIONING)
    stale = RouteReflector.objects.get(pk=rr.pk)
    route_reflector_set_state(rr, RouteReflector.State.REMOVING)  # a removal started meanwhile
    assert route_reflector_set_state(stale, RouteReflector.State.READY, if_allowed=True) is None
    devices_mark_failed(stale)
    assert stale.state == RouteReflector.State.REMOVING
    assert RouteReflector.objects.get(pk=rr.pk).state == RouteReflector.State.REMOVING


def test_a_finished_job_is_never_reopened():
    job = job_create(kind="worker_check")
    with pytest.raises(InvalidTransition, match="from queued to succeeded"):
        job_set_state(job, Job.State.SUCCEEDED)
    job_set_state(job, Job.State.RUNNING, attempts=1)
    job_set_state(job, Job.State.RUNNING, attempts=2)  # a retried attempt stays running
    job_set_state(job, Job.State.FAILED, error="boom")
    with pytest.raises(InvalidTransition, match="from failed to running"):
        job_set_state(job, Job.State.RUNNING)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error) == (Job.State.FAILED, 2, "boom")
