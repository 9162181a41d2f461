"""Celery tasks: thin. Each takes a Job's primary key and runs one workflow through run_job.

Transient failures (a node unreachable, a device busy) are retried with exponential
backoff; after the last try the workflow undoes its half-done work and the job fails.
"""

from celery import shared_task
from django.conf import settings
from django.utils.module_loading import import_string

from apps.jobs.runner import Retry, run_job


def _backoff(retries: int) -> float:
    return min(settings.FABRIC_RETRY_BASE_SECONDS * 2**retries, 300)


def workflow_task(name: str, workflow_path: str):
    """A task named `name` that runs the workflow function at `workflow_path` as a Job."""

    @shared_task(bind=True, name=name, max_retries=None)
    def task(self, job_id: int) -> None:
        workflow = import_string(workflow_path)
        retries = self.request.retries
        try:
            run_job(
                job_id,
                workflow,
                task_id=self.request.id or "",
                final_attempt=retries >= settings.FABRIC_TASK_MAX_RETRIES,
            )
        except Retry as exc:
            raise self.retry(exc=exc, countdown=_backoff(retries)) from exc

    return task


worker_check_task = workflow_task("jobs.worker_check", "apps.jobs.services.worker_check")
cluster_provision_task = workflow_task(
    "fabric.cluster_provision", "apps.fabric.workflows.cluster_provision"
)
border_gateway_sync_task = workflow_task(
    "fabric.border_gateway_sync", "apps.fabric.workflows.border_gateway_sync"
)
border_gateway_preview_task = workflow_task(
    "fabric.border_gateway_preview", "apps.fabric.workflows.border_gateway_preview"
)
node_add_task = workflow_task("fabric.node_add", "apps.fabric.workflows.node_add")
node_remove_task = workflow_task("fabric.node_remove", "apps.fabric.workflows.node_remove")
route_reflector_remove_task = workflow_task(
    "fabric.route_reflector_remove", "apps.fabric.workflows.route_reflector_remove"
)
reconcile_task = workflow_task("fabric.reconcile", "apps.fabric.reconcile.reconcile")
vm_create_task = workflow_task("compute.vm_create", "apps.compute.workflows.vm_create")
vm_delete_task = workflow_task("compute.vm_delete", "apps.compute.workflows.vm_delete")
vm_start_task = workflow_task("compute.vm_start", "apps.compute.workflows.vm_start")
vm_stop_task = workflow_task("compute.vm_stop", "apps.compute.workflows.vm_stop")

TASKS_BY_KIND = {
    "worker_check": worker_check_task,
    "cluster_provision": cluster_provision_task,
    "border_gateway_sync": border_gateway_sync_task,
    "border_gateway_preview": border_gateway_preview_task,
    "node_add": node_add_task,
    "node_remove": node_remove_task,
    "route_reflector_remove": route_reflector_remove_task,
    "reconcile": reconcile_task,
    "vm_create": vm_create_task,
    "vm_delete": vm_delete_task,
    "vm_start": vm_start_task,
    "vm_stop": vm_stop_task,
}


@shared_task(name="fabric.reconcile_schedule")
def reconcile_schedule() -> int | None:
    """Beat's entry: queue a `reconcile` job unless one is already queued or running."""
    from apps.jobs.models import Job
    from apps.jobs.services import job_start

    if Job.objects.filter(kind=Job.Kind.RECONCILE, state__in=Job.ACTIVE_STATES).exists():
        return None
    return job_start(kind=Job.Kind.RECONCILE).pk


@shared_task(name="jobs.requeue_stale")
def requeue_stale() -> list[int]:
    """Beat's entry: queue again the jobs whose message never reached a worker."""
    from apps.jobs.services import job_requeue_stale

    return job_requeue_stale()


@shared_task(name="compute.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat's entry: forget Idempotency-Keys older than FABRIC_IDEMPOTENCY_KEY_HOURS."""
    from apps.compute.services import idempotency_keys_purge

    return idempotency_keys_purge()
