"""A real task through a real Redis to a real worker process, recorded on its Job row."""

import os

import pytest

from apps.jobs.models import Job
from apps.jobs.services import worker_check_start
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_check_job_succeeds_in_the_worker_process(celery_worker_process):
    job = worker_check_start()
    assert job.state == Job.State.QUEUED

    done = wait_for(
        lambda: Job.objects.filter(pk=job.pk, state__in=["succeeded", "failed"]).first(),
        timeout=60,
        message="the worker never finished the job",
    )

    assert done.state == Job.State.SUCCEEDED, done.error
    assert done.celery_task_id
    assert done.attempts == 1
    assert done.started <= done.finished
    steps = list(done.steps.order_by("position"))
    assert [(s.name, s.state) for s in steps] == [
        ("worker", "succeeded"),
        ("database", "succeeded"),
    ]
    worker_pid = str(celery_worker_process.pid)
    assert f"pid {worker_pid}" in steps[0].output
    assert str(os.getpid()) != worker_pid
    assert "postgresql reachable" in steps[1].output
