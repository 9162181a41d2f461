"""Recovering from a failed job in a real browser: the operator reads the likely cause, takes
note of one failure (Acknowledge) and retries another; a tenant retries their VM's failed
delete after confirming. No lab: the new jobs' Celery messages are recorded, not sent."""

import pytest

from apps.jobs.models import Job
from apps.jobs.tasks import run_job_task
from tests.browser.conftest import PASSWORD, login, screenshot
from tests.factories import (
    make_cluster,
    make_membership,
    make_node,
    make_plan,
    make_tenant,
    make_user,
    make_vm,
)
from tests.portal.conftest import make_job

pytestmark = [pytest.mark.django_db(transaction=True)]

UNREACHABLE = "step node_connect failed: NodeUnreachable: ssh root@10.1.0.1:22: timed out"


@pytest.fixture
def sent(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(run_job_task, "apply_async", lambda args, **kw: calls.append(args[0]))
    return calls


def failed(kind: str, target, tenant=None) -> Job:
    job = make_job(kind=kind, target=target, tenant=tenant, state="failed",
                   steps=[("node_connect", "failed", "NodeUnreachable: timed out")])  # fmt: skip
    Job.objects.filter(pk=job.pk).update(error=UNREACHABLE, error_type="NodeUnreachable")
    return job


def test_operator_acknowledges_one_failure_and_retries_another(live_server, page, sent):
    cluster = make_cluster(name="fra1", state="ready")
    node = make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.1", state="failed")
    old = failed("node_add", make_node(cluster=cluster, name="hv2", underlay_ip="10.1.0.2",
                                       state="failed"))  # fmt: skip
    job = failed("node_add", node)
    make_membership(user=make_user(username="ops", password=PASSWORD), role="operator")
    login(page, live_server, "ops")

    page.goto(f"{live_server.url}/jobs/{old.pk}/")
    assert "did not answer on SSH" in page.inner_text("#job-cause")
    page.click("#job-acknowledge")
    page.wait_for_selector("#job-acknowledged")
    assert "Acknowledged by ops" in page.inner_text("#job-acknowledged")
    old.refresh_from_db()
    assert old.acknowledged is not None and sent == []

    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    assert page.get_attribute("#job-fix-link", "href") == f"/nodes/{node.pk}/"
    screenshot(page, "job-failed-retry")
    page.click("#job-retry")
    page.wait_for_url(lambda url: not url.endswith(f"/jobs/{job.pk}/"))
    new = Job.objects.exclude(pk__in=[job.pk, old.pk]).get()
    assert (new.kind, new.target_id, new.state) == ("node_add", node.pk, "queued")
    assert page.url.endswith(f"/jobs/{new.pk}/") and sent == [new.pk]
    screenshot(page, "job-retried")


def test_tenant_confirms_before_retrying_a_failed_delete(live_server, page, sent):
    cluster = make_cluster(name="fra1", state="ready")
    node = make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.1", state="ready")
    tenant = make_tenant(name="acme")
    vm = make_vm(tenant=tenant, plan=make_plan(), cluster=cluster, node=node, name="web1",
                 state="deleting")  # fmt: skip
    job = failed("vm_delete", vm, tenant=tenant)
    make_membership(user=make_user(username="alice", password=PASSWORD), tenant=tenant,
                    role="tenant_user")  # fmt: skip
    login(page, live_server, "alice")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#job-retry")
    page.wait_for_timeout(500)  # a dismissed confirm sends nothing
    assert asked and "again?" in asked[0]
    assert Job.objects.count() == 1 and sent == []

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#job-retry")
    page.wait_for_url(lambda url: not url.endswith(f"/jobs/{job.pk}/"))
    new = Job.objects.exclude(pk=job.pk).get()
    assert (new.kind, new.target_id) == ("vm_delete", vm.pk) and sent == [new.pk]
