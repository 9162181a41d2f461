"""Editing in a real browser: an operator changes a cluster's community, sees the route
reflector's bird.conf diff, confirms, and lands on the provisioning job that applies it.

The first test needs no lab: the job is queued (its Celery message is recorded instead of
sent, so no worker of another test runs it against devices that do not exist). The second
runs it on the lab and reads the route reflectors' bird.conf."""

from pathlib import Path

import pytest

from apps.fabric.models import Cluster
from apps.jobs.models import Job
from apps.jobs.tasks import run_job_task
from tests.browser.conftest import PASSWORD, login, screenshot, wait_for_job_page
from tests.factories import (
    make_bgw,
    make_cluster,
    make_membership,
    make_network,
    make_node,
    make_rr,
    make_user,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sent(monkeypatch) -> list:
    """The job ids queued to Celery once their transaction committed."""
    calls = []
    monkeypatch.setattr(run_job_task, "apply_async", lambda args, **kw: calls.append(args[0]))
    return calls


def test_operator_edits_a_cluster_sees_the_diff_and_confirms(live_server, page, sent):
    cluster = make_cluster(name="fra1", state="ready")
    make_network(cluster=cluster, prefix="203.0.113.0/24")
    rr = make_rr(cluster=cluster, name="rr1", peering_ip="10.2.0.1", state="ready")
    make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.1", state="ready")
    make_bgw(cluster=cluster, name="mx1", peering_ip="10.3.0.1")
    make_membership(user=make_user(username="ops", password=PASSWORD), role="operator")
    login(page, live_server, "ops")

    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")
    page.click("#cluster-edit")
    page.wait_for_url(f"**/clusters/{cluster.pk}/edit/")
    page.fill("#id_bgp_community", "65000:2x")
    page.click("#edit-submit")
    assert page.inner_text("#id_bgp_community-errors")  # inline, nothing saved
    assert page.input_value("#id_bgp_community") == "65000:2x"
    screenshot(page, "cluster-edit-error")

    page.fill("#id_bgp_community", "65000:200")
    page.click("#edit-submit")
    page.wait_for_selector("#edit-diffs")
    diff = page.locator(f'pre.diff[data-device="route_reflector-{rr.pk}-bird"]')
    assert diff.locator("span.del", has_text="bgp_community.add((65000,100));").count() == 1
    assert diff.locator("span.add", has_text="bgp_community.add((65000,200));").count() == 1
    assert "Cluster provisioning" in page.inner_text("#edit-syncs")
    screenshot(page, "cluster-edit-diff")
    assert Cluster.objects.get(pk=cluster.pk).bgp_community == "65000:100"
    assert not Job.objects.exists() and sent == []

    page.click("#edit-confirm")
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get(kind="cluster_provision", target_id=cluster.pk)
    assert page.url.endswith(f"/jobs/{job.pk}/")
    assert f"Queued: Cluster provisioning #{job.pk}." in page.inner_text("main")
    assert sent == [job.pk]
    assert Cluster.objects.get(pk=cluster.pk).bgp_community == "65000:200"
    screenshot(page, "cluster-edit-confirmed")


@pytest.mark.lab
def test_an_edit_confirmed_in_the_browser_reaches_the_route_reflectors(
    live_server, page, lab, lab_cluster
):
    """On the lab: the diff shown is what the route reflectors then run."""
    make_membership(user=make_user(username="ops", password=PASSWORD), role="operator")
    login(page, live_server, "ops")
    new = f"{lab_cluster.bgp_asn}:4242"
    page.goto(f"{live_server.url}/clusters/{lab_cluster.pk}/edit/")
    page.fill("#id_bgp_community", new)
    page.click("#edit-submit")
    page.wait_for_selector("#edit-diffs")
    rrs = list(lab_cluster.route_reflectors.order_by("name"))
    for rr in rrs:
        shown = page.locator(f'pre.diff[data-device="route_reflector-{rr.pk}-bird"]')
        assert shown.locator("span.add", has_text=f"({lab_cluster.bgp_asn},4242)").count() == 1
    page.click("#edit-confirm")
    page.wait_for_url("**/jobs/*/")
    assert wait_for_job_page(page) == "succeeded", page.inner_text("#job-progress")
    screenshot(page, "cluster-edit-job-lab")
    for rr in rrs:
        running = Path(lab.hosts[rr.name].bird_conf).read_text()
        assert f"bgp_community.add(({lab_cluster.bgp_asn},4242));" in running
        assert f"({lab_cluster.bgp_asn},100)" not in running
