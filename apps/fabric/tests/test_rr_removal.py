"""Route reflector removal without a lab: the decisions, the states they leave, and the
places that must stop using a reflector being removed. (The lab runs it for real in
tests/e2e/test_route_reflector_remove.py.)"""

import pytest
from django.core.exceptions import ValidationError

from apps.fabric.models import RouteReflector
from apps.fabric.services import cluster_provision_start, route_reflector_remove_start
from apps.fabric.workflows import route_reflector_remove
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from apps.jobs.services import job_create
from apps.portal.selectors import node_sessions
from tests.factories import make_cluster, make_node, make_rr

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    """Two ready RRs; the second one's server no longer answers (port 2 on loopback)."""
    cluster = make_cluster()
    keep = make_rr(cluster=cluster, name="keep", state="ready")
    gone = make_rr(cluster=cluster, name="gone", state="ready", ssh_host="127.0.0.1", ssh_port=2,
                   ssh_private_key="", ssh_password="not-used")  # fmt: skip
    return cluster, keep, gone


def run(job: Job) -> Job:
    run_job(job.pk, route_reflector_remove)
    job.refresh_from_db()
    return job


def test_removal_goes_on_while_the_other_rr_is_being_provisioned(pair):
    cluster, keep, gone = pair
    job = route_reflector_remove_start(rr=gone)
    RouteReflector.objects.filter(pk=keep.pk).update(state="provisioning")

    assert run(job).state == "succeeded", job.error

    steps = {s.name: s for s in job.steps.all()}
    assert "keep (provisioning)" in steps["rr_check"].output
    assert steps["rr_decommission"].state == "skipped"
    assert not RouteReflector.objects.filter(pk=gone.pk).exists()


def test_a_removal_delivered_again_after_the_row_is_gone_succeeds(pair):
    cluster, keep, gone = pair
    job = route_reflector_remove_start(rr=gone)
    assert run(job).state == "succeeded"
    Job.objects.filter(pk=job.pk).update(state="running", finished=None)  # ack lost: redelivered

    again = run(job)

    assert again.state == "succeeded", again.error
    last = again.steps.order_by("-attempt", "-position").first()
    assert (last.name, last.state) == ("rr_forget", "skipped")


def test_removal_waits_for_the_clusters_provisioning_and_the_reverse(pair):
    cluster, keep, gone = pair
    provisioning = cluster_provision_start(cluster=cluster)

    with pytest.raises(ValidationError, match=f"job #{provisioning.pk}"):
        route_reflector_remove_start(rr=gone)
    assert RouteReflector.objects.get(pk=gone.pk).state == "ready"

    Job.objects.filter(pk=provisioning.pk).update(state="succeeded")
    removal = route_reflector_remove_start(rr=gone)
    with pytest.raises(ValidationError, match=f"job #{removal.pk}"):
        cluster_provision_start(cluster=cluster)


def test_removal_waits_for_a_node_being_added(pair):
    cluster, keep, gone = pair
    node = make_node(cluster=cluster)
    adding = job_create(kind="node_add", target=node)

    with pytest.raises(ValidationError, match=f"job #{adding.pk}"):
        route_reflector_remove_start(rr=gone)


def test_an_rr_being_removed_is_not_shown_as_a_session_of_the_node(pair):
    """(That verify_export does not wait for it runs in the lab: test_route_reflector_remove.)"""
    cluster, keep, gone = pair
    node = make_node(cluster=cluster, state="ready")
    route_reflector_remove_start(rr=gone)

    assert [s.route_reflector for s in node_sessions(node)[0]] == [keep]
