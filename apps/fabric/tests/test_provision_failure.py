"""A provisioning that fails leaves no device saying `provisioning`: each one the job moved
ends `failed` (or where it was, if the job never reached it). Run in-process against a
route reflector whose server does not answer (port 2 on loopback)."""

import pytest

from apps.fabric.models import BorderGateway, RouteReflector
from apps.fabric.services import cluster_provision_start
from apps.fabric.workflows import cluster_provision
from apps.jobs.runner import Retry, run_job
from tests.factories import make_bgw, make_cluster, make_rr

pytestmark = pytest.mark.django_db

UNREACHABLE = {"ssh_host": "127.0.0.1", "ssh_port": 2, "ssh_private_key": "",
               "ssh_password": "not-used"}  # fmt: skip


@pytest.fixture
def cluster():
    cluster = make_cluster()
    make_rr(cluster=cluster, name="rr-a", **UNREACHABLE)
    make_rr(cluster=cluster, name="rr-b", state="ready", **UNREACHABLE)
    make_bgw(cluster=cluster)
    return cluster


def states(cluster) -> dict:
    rrs = dict(RouteReflector.objects.filter(cluster=cluster).values_list("name", "state"))
    cluster.refresh_from_db()
    bgw = BorderGateway.objects.get(cluster=cluster)
    return {"cluster": cluster.state, **rrs, "bgw": bgw.state}


def test_a_failed_provisioning_leaves_the_rr_it_was_on_failed(cluster):
    job = cluster_provision_start(cluster=cluster)

    run_job(job.pk, cluster_provision, final_attempt=True)

    job.refresh_from_db()
    assert job.state == "failed" and "rr_prepare" in job.error
    # rr-a (first by name) was being provisioned; the job never reached rr-b nor the bgw
    assert states(cluster) == {"cluster": "failed", "rr-a": "failed", "rr-b": "ready",
                               "bgw": "new"}  # fmt: skip


def test_an_attempt_that_will_be_retried_leaves_it_provisioning(cluster):
    job = cluster_provision_start(cluster=cluster)

    with pytest.raises(Retry):
        run_job(job.pk, cluster_provision, final_attempt=False)

    assert states(cluster)["rr-a"] == "provisioning"  # the job goes on: it says so
    run_job(job.pk, cluster_provision, final_attempt=True)
    assert states(cluster) == {"cluster": "failed", "rr-a": "failed", "rr-b": "ready",
                               "bgw": "new"}  # fmt: skip
