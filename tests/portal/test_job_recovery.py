"""A failed job's page: the likely cause in words, the object to fix, Retry and Acknowledge."""

from django.utils import timezone

from apps.jobs.models import Job
from tests.portal.conftest import make_job

UNREACHABLE = "step node_connect failed: NodeUnreachable: ssh root@10.1.0.1:22: timed out"


def failed_node_add(world) -> Job:
    world.node.state = "failed"
    world.node.save(update_fields=["state"])
    job = make_job(kind="node_add", target=world.node, state="failed",
                   steps=[("node_connect", "failed", "NodeUnreachable: timed out")])  # fmt: skip
    Job.objects.filter(pk=job.pk).update(error=UNREACHABLE, error_type="NodeUnreachable")
    job.refresh_from_db()
    return job


def failed_vm_delete(world) -> Job:
    world.vm_a.state = "deleting"
    world.vm_a.save(update_fields=["state"])
    job = make_job(kind="vm_delete", target=world.vm_a, tenant=world.tenant_a, state="failed",
                   steps=[("network_detach", "failed", "NodeUnreachable: timed out")])  # fmt: skip
    Job.objects.filter(pk=job.pk).update(error=UNREACHABLE, error_type="NodeUnreachable")
    return job


def page(world, who: str, job: Job) -> str:
    response = world.client(who).get(f"/jobs/{job.pk}/")
    assert response.status_code == 200, (who, response.status_code)
    return response.content.decode()


def test_a_failed_job_says_the_likely_cause_before_the_exception_and_links_the_target(world):
    job = failed_node_add(world)
    text = page(world, "operator", job)
    cause = text.index("did not answer on SSH")
    assert cause < text.index("NodeUnreachable: ssh root@10.1.0.1:22")
    assert f'id="job-fix-link" href="/nodes/{world.node.pk}/"' in text
    assert "then Retry" in text


def test_operators_get_retry_and_acknowledge_auditors_neither(world):
    job = failed_node_add(world)
    for who in ("admin", "operator"):
        text = page(world, who, job)
        assert 'id="job-retry"' in text and 'id="job-acknowledge"' in text, who
        assert f'hx-post="/jobs/{job.pk}/retry/"' in text
    text = page(world, "auditor", job)
    assert 'id="job-retry"' not in text and 'id="job-acknowledge"' not in text
    assert "did not answer on SSH" in text  # the auditor reads the cause too


def test_no_buttons_on_a_job_that_did_not_fail_or_is_not_the_latest(world):
    text = page(world, "operator", world.node_job)  # succeeded
    assert 'id="job-retry"' not in text and 'id="job-acknowledge"' not in text
    job = failed_node_add(world)
    newer = make_job(kind="node_add", target=world.node, state="running")
    text = page(world, "operator", job)
    assert 'id="job-retry"' not in text and f'href="/jobs/{newer.pk}/"' in text


def test_a_tenant_retries_their_vm_delete_with_a_confirmation_but_cannot_acknowledge(world):
    job = failed_vm_delete(world)
    text = page(world, "alice", job)
    assert 'id="job-retry"' in text and "hx-confirm=" in text
    assert 'id="job-acknowledge"' not in text
    assert "did not answer on SSH" not in text and "10.1.0.1" not in text  # staff only
    text = page(world, "alice_ro", job)
    assert 'id="job-retry"' not in text
    assert world.client("alice_ro").post(f"/jobs/{job.pk}/retry/").status_code == 403
    assert world.client("bob").post(f"/jobs/{job.pk}/retry/").status_code == 404
    assert world.client("alice").post(f"/jobs/{job.pk}/acknowledge/").status_code == 403

    response = world.client("alice").post(f"/jobs/{job.pk}/retry/")
    new = Job.objects.get(kind="vm_delete", state="queued")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.pk}/"
    assert new.target_id == world.vm_a.pk and new.tenant == world.tenant_a


def test_a_retry_over_htmx_redirects_to_the_new_job(world):
    job = failed_node_add(world)
    response = world.client("operator").post(f"/jobs/{job.pk}/retry/", HTTP_HX_REQUEST="true")
    new = Job.objects.get(kind="node_add", state="queued")
    assert response["HX-Redirect"] == f"/jobs/{new.pk}/"


def test_a_refused_retry_says_why_on_the_job_page(world):
    job = failed_vm_delete(world)
    make_job(kind="vm_stop", target=world.vm_a, tenant=world.tenant_a, state="running")
    response = world.client("alice").post(f"/jobs/{job.pk}/retry/", follow=True)
    text = response.content.decode()
    assert "wait for it to finish" in text
    assert not Job.objects.filter(kind="vm_delete", state="queued").exists()


def test_a_failed_vm_create_offers_no_retry_but_ordering_again(world):
    job = make_job(kind="vm_create", target=world.vm_a, tenant=world.tenant_a, state="failed",
                   steps=[("place", "failed", "NoCapacity: node hv1 is full")])  # fmt: skip
    for who in ("operator", "alice"):
        text = page(world, who, job)
        assert 'id="job-retry"' not in text and "order it again" in text, who
        assert 'href="/vms/new/"' in text


def test_acknowledged_by_whom_and_when(world):
    job = failed_node_add(world)
    response = world.client("operator").post(f"/jobs/{job.pk}/acknowledge/")
    assert response.status_code == 302
    text = page(world, "admin", job)
    assert "Acknowledged by ops at" in text and 'id="job-acknowledge"' not in text
    dashboard = world.client("operator").get("/dashboard/").content.decode()
    assert f"/jobs/{job.pk}/" not in dashboard
    assert world.client("auditor").post(f"/jobs/{job.pk}/acknowledge/").status_code == 403


def test_staff_see_the_worker_of_a_running_job_tenants_do_not(world):
    job = make_job(kind="vm_delete", target=world.vm_a, tenant=world.tenant_a, state="running")
    Job.objects.filter(pk=job.pk).update(worker="hv-worker:4242", heartbeat=timezone.now())
    text = page(world, "operator", job)
    assert 'id="job-worker"' in text and "hv-worker:4242, alive at" in text
    assert "hv-worker" not in page(world, "alice", job)
