"""The one Celery task of every job: `jobs.run` runs a Job by id through its workflow.

The job's kind names its workflow in the registry (apps/jobs/registry.py); the runner
(apps/jobs/runner.py) records the run. A transient failure with tries left is retried with
exponential backoff and jitter; the last try is the final attempt, after which the workflow
undoes its half-done work and the job fails.
"""

from celery import shared_task
from django.conf import settings

from apps.jobs import registry
from apps.jobs.models import Job
from apps.jobs.runner import Retry, run_job
from workers.polling import backoff

MAX_BACKOFF_SECONDS = 300


def _run(task, job_id: int) -> None:
    kind = Job.objects.values_list("kind", flat=True).get(pk=job_id)
    workflow = registry.get(kind)
    retries = task.request.retries
    try:
        run_job(
            job_id,
            workflow.function,
            task_id=task.request.id or "",
            final_attempt=retries >= workflow.retries,
        )
    except Retry as exc:
        countdown = backoff(
            retries, base=settings.FABRIC_RETRY_BASE_SECONDS, cap=MAX_BACKOFF_SECONDS
        )
        raise task.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, name="jobs.run", max_retries=None)
def run_job_task(self, job_id: int) -> None:
    _run(self, job_id)


# Before the registry each kind had its own task. Messages queued under those names before
# an upgrade (a retry waiting for its countdown, say) still arrive: these names run them the
# same way. Remove them one release after the registry.
LEGACY_TASK_NAMES = (
    "jobs.worker_check",
    "fabric.cluster_provision",
    "fabric.border_gateway_sync",
    "fabric.border_gateway_preview",
    "fabric.node_add",
    "fabric.node_remove",
    "fabric.route_reflector_remove",
    "fabric.reconcile",
    "compute.vm_create",
    "compute.vm_delete",
    "compute.vm_start",
    "compute.vm_stop",
)
for _name in LEGACY_TASK_NAMES:
    shared_task(bind=True, name=_name, max_retries=None)(_run)
