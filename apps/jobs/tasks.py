"""The one Celery task of every job: `jobs.run` runs a Job by id through its workflow.

The job's kind names its workflow in the registry (apps/jobs/registry.py); the runner
(apps/jobs/runner.py) records the run. A transient failure with tries left (the runner
raises `Retry`) is retried by Celery itself: `retry_backoff` from FABRIC_RETRY_BASE_SECONDS
(whole seconds, at least 1), doubling up to MAX_BACKOFF_SECONDS, with full jitter. The last
try is the final attempt, after which the workflow undoes its half-done work and the job
fails.
"""

from celery import shared_task
from django.conf import settings

from apps.jobs import registry
from apps.jobs.models import Job
from apps.jobs.runner import Retry, run_job

MAX_BACKOFF_SECONDS = 300

# Celery's own retry: `Retry` from the runner is retried with exponential backoff and jitter.
RETRY_OPTIONS = {
    "autoretry_for": (Retry,),
    "retry_backoff": settings.FABRIC_RETRY_BASE_SECONDS,
    "retry_backoff_max": MAX_BACKOFF_SECONDS,
    "retry_jitter": True,
    "max_retries": None,  # the workflow's own count decides (final_attempt)
}


def _run(task, job_id: int) -> None:
    kind = Job.objects.values_list("kind", flat=True).get(pk=job_id)
    workflow = registry.get(kind)
    run_job(
        job_id,
        workflow.function,
        task_id=task.request.id or "",
        final_attempt=task.request.retries >= workflow.retries,
    )


@shared_task(bind=True, name="jobs.run", **RETRY_OPTIONS)
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
    shared_task(bind=True, name=_name, **RETRY_OPTIONS)(_run)
