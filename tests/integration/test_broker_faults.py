"""The broker restarts or loses messages: no job is lost, none runs twice."""

import os
import subprocess

import pytest

from apps.jobs.models import Job
from apps.jobs.services import job_create, job_requeue_stale
from apps.jobs.tasks import run_job_task
from tests.conftest import ROOT, start_celery_worker, stop_celery_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REDIS_DIR = os.environ.get("FABRIC_TEST_REDIS_DIR", "")
REDIS_PORT = os.environ.get("FABRIC_TEST_REDIS_PORT", "")


def redis(*command: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", REDIS_PORT, *command], capture_output=True, text=True, check=True
    ).stdout.strip()


def restart_redis() -> None:
    """Stop the test Redis (SIGTERM) and start it again from its append-only file."""
    script = f'source scripts/common.sh; stop_redis "{REDIS_DIR}"; sleep 0.5; ' \
             f'start_redis "{REDIS_DIR}" "{REDIS_PORT}"'  # fmt: skip
    subprocess.run(["bash", "-c", script], cwd=ROOT, check=True)


def done(jobs: list[Job]):
    return lambda: (
        Job.objects.filter(pk__in=[j.pk for j in jobs], state="succeeded").count() == len(jobs)
    )


@pytest.fixture
def broker_restartable():
    if not (REDIS_DIR and REDIS_PORT):
        pytest.skip("needs the Redis started by `make test`")


def test_jobs_queued_before_a_redis_restart_run_once_after_it(broker_restartable, tmp_path):
    jobs = [job_create(kind="worker_check") for _ in range(5)]
    for job in jobs:
        run_job_task.apply_async(args=[job.pk], queue="faults")
    assert redis("LLEN", "faults") == "5"

    restart_redis()
    assert redis("LLEN", "faults") == "5"  # the append-only file kept them

    worker = start_celery_worker(tmp_path / "w.log", name="faults", queues="faults")
    try:
        wait_for(done(jobs), timeout=60, message="jobs queued before the restart did not run")
    finally:
        stop_celery_worker(worker)
    assert [j.attempts for j in Job.objects.filter(pk__in=[j.pk for j in jobs])] == [1] * 5


def test_a_lost_message_is_queued_again_and_runs_once(broker_restartable, tmp_path):
    lost, kept = job_create(kind="worker_check"), job_create(kind="worker_check")
    run_job_task.apply_async(args=[lost.pk], queue="faults")
    redis("DEL", "faults")  # the broker forgot it (e.g. Redis without persistence restarted)
    run_job_task.apply_async(args=[kept.pk], queue="faults")

    requeued = job_requeue_stale(older_than=0)

    assert set(requeued) == {lost.pk, kept.pk}  # `kept` is merely late: queued twice
    worker = start_celery_worker(tmp_path / "w.log", name="faults", queues="celery,faults")
    try:
        wait_for(done([lost, kept]), timeout=60, message="requeued jobs did not run")
        wait_for(lambda: redis("LLEN", "faults") == "0", timeout=30)
    finally:
        stop_celery_worker(worker)
    for job in (lost, kept):
        job.refresh_from_db()
        assert job.attempts == 1  # the second delivery found the job finished and did nothing
        assert job.steps.count() == 2
