"""Authenticated input that used to end in a 500: out-of-range datetimes in filters, deeply
nested JSON, and a second VM action while one is queued or running."""

import pytest
from django.test import Client

from apps.jobs.models import Job
from tests.api.conftest import assert_error
from tests.api.test_resources import order_running_vm

EDGES = ["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00"]  # not in UTC


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize(
    "path,param",
    [
        ("/api/v1/vms/", "created_after"),
        ("/api/v1/vms/", "created_before"),
        ("/api/v1/jobs/", "created_after"),
        ("/api/v1/jobs/", "created_before"),
        ("/api/v1/usage-events/", "after"),
        ("/api/v1/usage-events/", "before"),
        ("/api/v1/changes/", "since"),
        ("/api/v1/changes/", "before"),
        ("/api/v1/usage/", "from"),
        ("/api/v1/usage/", "to"),
    ],
)
def test_datetimes_out_of_range_are_a_400_naming_the_parameter(world, path, param, value):
    response = world.client("admin").get(f"{path}?{param}={value}")
    error = assert_error(response, 400, "validation_error", param)
    assert "out of range" in error["message"]


def test_the_first_instant_in_utc_is_fine(world):
    response = world.client("admin").get("/api/v1/vms/?created_after=0001-01-01T00:00:00Z")
    assert response.status_code == 200


def test_deeply_nested_json_is_a_parse_error(world):
    for body in ("[" * 100_000, '{"a":' * 100_000, "[" * 40 + "]" * 40):
        response = world.client("admin").post(
            "/api/v1/vms/", data=body, content_type="application/json"
        )
        assert_error(response, 400, "parse_error")


def test_a_second_vm_action_while_one_is_queued_is_refused(world):
    vm, client = order_running_vm(world), world.client("alice")
    url = f"/api/v1/vms/{vm.pk}/"
    first = client.post(f"{url}stop/")
    assert first.status_code == 202
    job = first.json()["job"]["id"]
    for again in (lambda: client.post(f"{url}stop/"), lambda: client.delete(url)):
        error = assert_error(again(), 409, "invalid_state", "job")
        assert f"job #{job}" in error["message"] and error["fields"]["job"] == [str(job)]
    Job.objects.filter(pk=job).update(state="running")
    assert_error(client.post(f"{url}stop/"), 409, "invalid_state", "job")
    assert Job.objects.filter(target_id=vm.pk, kind__in=["vm_stop", "vm_delete"]).count() == 1
    # Once it finished, the next action is queued.
    Job.objects.filter(pk=job).update(state="succeeded")
    assert client.delete(url).status_code == 202


def test_the_portal_refuses_a_second_action_with_a_message(world):
    vm = order_running_vm(world)
    client = Client()
    client.force_login(world.users["alice"])
    assert client.post(f"/vms/{vm.pk}/stop/").status_code == 302
    job = Job.objects.get(kind="vm_stop", target_id=vm.pk)
    page = client.post(f"/vms/{vm.pk}/stop/", follow=True).content.decode()
    assert f"job #{job.pk}" in page
    response = client.post(f"/vms/{vm.pk}/delete/", {"confirm": vm.name})
    assert response.status_code == 400 and f"job #{job.pk}" in response.content.decode()
    assert Job.objects.filter(target_id=vm.pk, kind__in=["vm_stop", "vm_delete"]).count() == 1
