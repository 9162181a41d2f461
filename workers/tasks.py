"""Celery tasks: thin. Each takes a Job's primary key and runs one workflow through run_job."""

from celery import shared_task

from apps.jobs.runner import run_job


@shared_task(bind=True, name="jobs.worker_check")
def worker_check_task(self, job_id: int) -> None:
    from apps.jobs.services import worker_check

    run_job(job_id, worker_check, task_id=self.request.id or "")
