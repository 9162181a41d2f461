"""What tenants see of jobs and VMs through the API: what the portal shows them, no more.

Step output, job errors (SSH targets, failing shell commands), the node and the vnet are
the operators' business; a tenant sees step names, states and times and a plain message.
"""

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from apps.jobs.models import Job, JobStep
from tests.api.test_resources import order_running_vm

TENANTS = ("alice", "alice_ro")
STAFF = ("admin", "operator", "auditor")
SECRET_OUTPUT = "ssh root@10.1.0.7:22: bird -p -c /etc/bird/bird.conf.new failed"
SECRET_ERROR = "step node_apply_bird failed: BirdConfigInvalid on root@10.1.0.7:22"


def failed_job(vm) -> Job:
    now = timezone.now()
    job = Job.objects.create(
        kind="vm_create", target_type=ContentType.objects.get_for_model(vm), target_id=vm.pk,
        target_repr=str(vm), tenant=vm.tenant, state="failed", attempts=1, started=now,
        finished=now, error=SECRET_ERROR,
    )  # fmt: skip
    for position, (name, state, output) in enumerate(
        [("place", "succeeded", "node hv7, interface vnet42"),
         ("node_apply_bird", "failed", SECRET_OUTPUT)], start=1
    ):  # fmt: skip
        JobStep.objects.create(job=job, attempt=1, position=position, name=name, state=state,
                               output=output, data={"node": "hv7", "vnet": "vnet42"},
                               started=now, finished=now)  # fmt: skip
    return job


def test_tenants_see_steps_without_output_and_a_plain_error(world):
    job = failed_job(order_running_vm(world))
    for who in TENANTS:
        body = world.client(who).get(f"/api/v1/jobs/{job.pk}/").json()
        assert [s["name"] for s in body["steps"]] == ["place", "node_apply_bird"], who
        assert [s["state"] for s in body["steps"]] == ["succeeded", "failed"]
        assert all(s["started"] and s["finished"] for s in body["steps"])
        assert all("output" not in s and "data" not in s for s in body["steps"]), who
        assert [s["label"] for s in body["steps"]] == [
            "Choosing a host", "Announcing the route"
        ]  # fmt: skip
        assert body["error"] == (
            "Failed while announcing the route. The operators can see the details."
        ), who
        text = str(body)
        for secret in ("10.1.0.7", "hv7", "vnet42", "bird.conf"):
            assert secret not in text, (who, secret)
        listed = world.client(who).get("/api/v1/jobs/").json()["results"]
        row = next(r for r in listed if r["id"] == job.pk)
        assert "10.1.0.7" not in str(row), who


def test_staff_still_see_output_and_error(world):
    job = failed_job(order_running_vm(world))
    for who in STAFF:
        body = world.client(who).get(f"/api/v1/jobs/{job.pk}/").json()
        assert body["error"] == SECRET_ERROR, who
        assert body["steps"][1]["output"] == SECRET_OUTPUT, who
        assert body["steps"][0]["data"] == {"node": "hv7", "vnet": "vnet42"}, who


def test_tenants_cannot_search_job_errors(world):
    job = failed_job(order_running_vm(world))
    found = world.client("operator").get("/api/v1/jobs/", {"search": "10.1.0.7"}).json()
    assert job.pk in [r["id"] for r in found["results"]]
    for who in TENANTS:
        found = world.client(who).get("/api/v1/jobs/", {"search": "10.1.0.7"}).json()
        assert found["count"] == 0, who
        by_name = world.client(who).get("/api/v1/jobs/", {"search": job.target_repr}).json()
        assert job.pk in [r["id"] for r in by_name["results"]], who


def test_tenants_see_no_node_or_vnet_on_their_vms(world):
    vm = order_running_vm(world)
    vm.vnet_name = "vnet42"
    vm.save(update_fields=["vnet_name"])
    for who in TENANTS:
        client = world.client(who)
        shown = client.get(f"/api/v1/vms/{vm.pk}/").json()
        listed = client.get("/api/v1/vms/").json()["results"]
        for body in (shown, *listed):
            assert "node" not in body and "vnet_name" not in body, who
        changed = client.patch(f"/api/v1/vms/{vm.pk}/", {"description": "x"}, format="json")
        if changed.status_code == 200:
            assert "node" not in changed.json() and "vnet_name" not in changed.json()
    for who in STAFF:
        shown = world.client(who).get(f"/api/v1/vms/{vm.pk}/").json()
        assert shown["node"] == vm.node_id and shown["vnet_name"] == "vnet42", who


def test_tenants_cannot_find_vms_by_node(world):
    vm = order_running_vm(world)
    staff = world.client("operator").get("/api/v1/vms/", {"node": vm.node_id}).json()
    assert vm.pk in [r["id"] for r in staff["results"]]
    for who in TENANTS:
        response = world.client(who).get("/api/v1/vms/", {"node": vm.node_id})
        assert response.status_code == 400, (who, response.content[:300])
        assert "node" in response.json()["error"]["fields"]
