"""Retry a failed job (a new job of the same kind on the same target, through the kind's
start service) and acknowledge a failure nobody will retry."""

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from apps.jobs.models import Job
from apps.jobs.services import job_start
from apps.portal.selectors import failed_jobs_needing_attention
from tests.api.conftest import assert_error
from tests.api.test_resources import order_running_vm
from tests.factories import make_node

JOBS = "/api/v1/jobs/"
UNREACHABLE = "step node_connect failed: NodeUnreachable: ssh root@10.1.0.7:22: timed out"


def failed(kind: str, target, *, tenant=None, error: str = UNREACHABLE) -> Job:
    now = timezone.now()
    return Job.objects.create(
        kind=kind, target_type=ContentType.objects.get_for_model(target), target_id=target.pk,
        target_repr=str(target), tenant=tenant, state="failed", attempts=1, started=now,
        finished=now, error=error, error_type=error.split(": ")[1] if ": " in error else "",
    )  # fmt: skip


def failed_node_add(world) -> Job:
    node = make_node(cluster=world.cluster, state="failed")
    return failed("node_add", node)


def failed_vm_delete(world, tenant=None) -> Job:
    """A VM whose delete failed half-way: still `deleting`, its job failed."""
    vm = order_running_vm(world, tenant=tenant)
    vm.state = "deleting"
    vm.save(update_fields=["state"])
    return failed("vm_delete", vm, tenant=vm.tenant)


def retry(world, who: str, job: Job):
    return world.client(who).post(f"{JOBS}{job.pk}/retry/")


def test_retry_creates_a_job_of_the_same_kind_and_target(world):
    job = failed_node_add(world)
    response = retry(world, "operator", job)
    assert response.status_code == 202, response.content[:500]
    body = response.json()
    assert body["kind"] == "node_add" and body["state"] == "queued" and body["id"] != job.pk
    assert body["target"] == {"type": "fabric.node", "id": job.target_id,
                              "repr": job.target_repr}  # fmt: skip
    new = Job.objects.get(pk=body["id"])
    assert new.created_by == world.users["operator"]


def test_a_job_that_did_not_fail_is_not_retried(world):
    job = failed_node_add(world)
    Job.objects.filter(pk=job.pk).update(state="succeeded", error="", error_type="")
    error = assert_error(retry(world, "admin", job), 409, "invalid_state")
    assert "only a failed job" in error["message"]


def test_only_the_latest_job_of_its_kind_on_the_target_is_retried(world):
    job = failed_node_add(world)
    newer = job_start(kind="node_add", target=job.target)
    error = assert_error(retry(world, "admin", job), 409, "invalid_state")
    assert f"#{newer.pk}" in error["message"]
    assert Job.objects.filter(kind="node_add", target_id=job.target_id).count() == 2


def test_a_job_whose_target_is_gone_is_not_retried(world):
    job = failed_node_add(world)
    job.target.delete()
    error = assert_error(retry(world, "admin", job), 409, "invalid_state")
    assert "no longer exists" in error["message"]


def test_a_failed_vm_create_is_not_retried_but_ordered_again(world):
    vm = order_running_vm(world)
    vm.state = "failed"
    vm.save(update_fields=["state"])
    job = failed("vm_create", vm, tenant=vm.tenant)
    error = assert_error(retry(world, "admin", job), 409, "invalid_state")
    assert "order it again" in error["message"]


def test_a_retry_goes_through_the_kinds_refusal_rules(world):
    job = failed_vm_delete(world)
    busy = job_start(kind="vm_stop", target=job.target, tenant=job.tenant)
    error = assert_error(retry(world, "alice", job), 409, "invalid_state")
    assert f"#{busy.pk}" in error["message"]


def test_a_tenant_retries_their_own_vm_delete(world):
    job = failed_vm_delete(world)
    response = retry(world, "alice", job)
    assert response.status_code == 202, response.content[:500]
    assert response.json()["kind"] == "vm_delete"
    assert response.json()["target"]["id"] == job.target_id
    # once retried, it is no longer the latest: a second click queues nothing
    assert_error(retry(world, "alice", job), 409, "invalid_state")


def test_other_tenants_and_read_only_roles_cannot_retry(world):
    job = failed_vm_delete(world)
    assert_error(retry(world, "bob", job), 404, "not_found")
    assert_error(retry(world, "b_key", job), 404, "not_found")
    assert_error(retry(world, "alice_ro", job), 403, "permission_denied")
    assert_error(retry(world, "auditor", job), 403, "permission_denied")
    assert_error(retry(world, "anonymous", job), 401)
    assert Job.objects.filter(kind="vm_delete").count() == 1


def test_tenants_cannot_retry_a_node_job(world):
    job = failed_node_add(world)
    for who in ("alice", "bob", "alice_ro"):
        assert_error(retry(world, who, job), 404, "not_found")
    assert Job.objects.filter(kind="node_add").count() == 1


def test_acknowledge_takes_the_job_off_the_attention_list(world):
    job = failed_node_add(world)
    assert job in failed_jobs_needing_attention()
    response = world.client("operator").post(f"{JOBS}{job.pk}/acknowledge/")
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["acknowledged_by"] == "ops" and body["acknowledged"]
    assert job not in failed_jobs_needing_attention()
    detail = world.client("admin").get(f"{JOBS}{job.pk}/").json()
    assert detail["acknowledged_by"] == "ops"
    # again: nothing changes (the first acknowledgement stays)
    again = world.client("admin").post(f"{JOBS}{job.pk}/acknowledge/").json()
    assert again["acknowledged_by"] == "ops" and again["acknowledged"] == body["acknowledged"]


def test_only_failed_jobs_are_acknowledged(world):
    job = failed_node_add(world)
    Job.objects.filter(pk=job.pk).update(state="succeeded", error="", error_type="")
    assert_error(world.client("admin").post(f"{JOBS}{job.pk}/acknowledge/"), 409, "invalid_state")


def test_tenants_and_auditors_cannot_acknowledge(world):
    job = failed_vm_delete(world)
    for who in ("alice", "alice_ro", "auditor"):
        response = world.client(who).post(f"{JOBS}{job.pk}/acknowledge/")
        assert_error(response, 403, "permission_denied")
    assert_error(world.client("bob").post(f"{JOBS}{job.pk}/acknowledge/"), 404, "not_found")
    job.refresh_from_db()
    assert job.acknowledged is None
    tenant_view = world.client("alice").get(f"{JOBS}{job.pk}/").json()
    assert "acknowledged_by" not in tenant_view


def test_staff_see_the_likely_cause_and_tenants_do_not(world):
    job = failed_vm_delete(world)
    staff = world.client("operator").get(f"{JOBS}{job.pk}/").json()
    assert "did not answer on SSH" in staff["likely_cause"]["cause"]
    assert "Retry" in staff["likely_cause"]["next_step"]
    tenant = world.client("alice").get(f"{JOBS}{job.pk}/").json()
    assert "likely_cause" not in tenant and "10.1.0.7" not in str(tenant)


def test_staff_see_which_worker_runs_a_job_and_its_heartbeat_tenants_do_not(world):
    job = failed_vm_delete(world)
    beat = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        state="running", finished=None, error="", worker="hv-worker:4242", heartbeat=beat
    )
    staff = world.client("operator").get(f"{JOBS}{job.pk}/").json()
    assert staff["worker"] == "hv-worker:4242" and staff["heartbeat"]
    tenant = world.client("alice").get(f"{JOBS}{job.pk}/").json()
    assert "worker" not in tenant and "heartbeat" not in tenant
