"""Writes for jobs: create a Job row and queue its task once the transaction commits."""

import os
import platform
import socket
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from apps.jobs.models import Job
from apps.jobs.runner import JobRun


def job_create(*, kind: str, target=None, tenant=None, created_by=None) -> Job:
    job = Job(kind=kind, tenant=tenant, created_by=created_by)
    if target is not None:
        job.target_type = ContentType.objects.get_for_model(target)
        job.target_id = target.pk
        job.target_repr = str(target)[:200]
    job.full_clean()
    job.save()
    return job


def job_enqueue(job: Job) -> None:
    """Queue the job's task after the surrounding transaction commits (never before)."""
    from workers.tasks import TASKS_BY_KIND

    task = TASKS_BY_KIND[job.kind]
    queue = settings.FABRIC_TASK_QUEUE
    # robust: a broker that is down must not turn a committed order into an error page;
    # the job stays `queued` and jobs.requeue_stale sends it again later.
    transaction.on_commit(lambda: task.apply_async(args=[job.pk], queue=queue), robust=True)


@transaction.atomic
def job_start(*, kind: str, target=None, tenant=None, created_by=None) -> Job:
    """Create a Job row for `kind` on `target` and queue it once the transaction commits."""
    job = job_create(kind=kind, target=target, tenant=tenant, created_by=created_by)
    job_enqueue(job)
    return job


def job_requeue_stale(*, older_than: float | None = None) -> list[int]:
    """Queue again every job still `queued` after `older_than` seconds; returns their ids.

    Safe: run_job locks the job row and skips finished jobs, so a message that was only
    late, not lost, runs once.
    """
    age = older_than if older_than is not None else settings.FABRIC_REQUEUE_AFTER_SECONDS
    stale = Job.objects.filter(
        state=Job.State.QUEUED, created__lt=timezone.now() - timedelta(seconds=age)
    )
    ids = list(stale.values_list("pk", flat=True))
    for job in stale:
        job_enqueue(job)
    return ids


def worker_check_start(*, created_by=None) -> Job:
    """Queue a health check that proves a worker takes tasks and reaches the database."""
    return job_start(kind=Job.Kind.WORKER_CHECK, created_by=created_by)


def worker_check(run: JobRun) -> None:
    """The workflow of a `worker_check` job."""
    with run.step("worker") as step:
        step.log(f"host {socket.gethostname()}, pid {os.getpid()}, {platform.python_version()}")
    with run.step("database") as step, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM jobs_job")
        (count,) = cursor.fetchone()
        step.log(f"{connection.vendor} reachable; {count} jobs recorded")
