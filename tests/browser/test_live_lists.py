"""The lists follow the fabric while open (htmx), in a real browser: a VM that finishes
stopping, a job that finishes, the staff header's count; no reload in between."""

import pytest

from apps.compute.models import VirtualMachine
from apps.jobs.models import Job
from tests.browser.conftest import PASSWORD, login
from tests.portal.conftest import make_job, make_world

pytestmark = [pytest.mark.django_db(transaction=True)]


def passwords(world) -> None:
    for user in world.users.values():
        user.set_password(PASSWORD)
        user.save()


def test_the_vm_list_follows_a_stopping_vm_until_it_stopped(live_server, page):
    world = make_world()
    passwords(world)
    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(state="stopping")
    login(page, live_server, "alice")
    assert page.url.endswith("/vms/")
    page.wait_for_selector('#vm-list-live[data-live="true"] [data-state="stopping"]')
    page.evaluate("window.notReloaded = true")

    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(state="stopped")  # the worker
    page.wait_for_selector(
        '#vm-list-live[data-live="false"] [data-state="stopped"]', timeout=10_000
    )
    assert page.evaluate("window.notReloaded === true")  # htmx swapped the part only
    assert "web-b" not in page.inner_text("main")  # still alice's VMs only


def test_the_dashboard_job_list_and_header_count_follow_jobs(live_server, page):
    world = make_world()
    passwords(world)
    job = make_job(kind="node_add", target=world.node, state="running")
    login(page, live_server, "ops")
    assert page.inner_text("#jobs-indicator") == "1 running"
    page.goto(f"{live_server.url}/jobs/")
    page.wait_for_selector('#job-list-live[data-live="true"]')
    page.evaluate("window.notReloaded = true")

    Job.objects.filter(pk=job.pk).update(state="succeeded", finished=job.started)
    page.wait_for_selector('#job-list-live[data-live="false"]', timeout=10_000)
    page.wait_for_selector('#jobs-indicator[data-count="0"]', timeout=10_000)
    assert page.evaluate("window.notReloaded === true")
    assert page.inner_text("#jobs-indicator") == "0 running"
