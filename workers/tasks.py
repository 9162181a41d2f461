"""Celery beat's entries: thin, each calls one service.

Every job runs through one task, `jobs.run` (apps/jobs/tasks.py), which finds the job's
workflow in the registry (apps/jobs/registry.py).
"""

from celery import shared_task

from apps.compute.services import idempotency_keys_purge
from apps.fabric.bgp_sessions import collect_bgp_sessions
from apps.jobs.models import Job
from apps.jobs.services import job_requeue_stale, job_start


@shared_task(name="fabric.reconcile_schedule")
def reconcile_schedule() -> int | None:
    """Beat's entry: queue a `reconcile` job unless one is already queued or running."""
    if Job.objects.filter(kind="reconcile", state__in=Job.ACTIVE_STATES).exists():
        return None
    return job_start(kind="reconcile").pk


@shared_task(name="jobs.requeue_stale")
def requeue_stale() -> list[int]:
    """Beat's entry: queue again the jobs whose message never reached a worker."""
    return job_requeue_stale()


@shared_task(name="compute.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat's entry: forget Idempotency-Keys older than FABRIC_IDEMPOTENCY_KEY_HOURS."""
    return idempotency_keys_purge()


@shared_task(name="fabric.bgp_sessions_collect")
def bgp_sessions_collect() -> dict:
    """Beat's entry: read every RR's and node's BGP sessions (no job rows; a summary)."""
    return collect_bgp_sessions()
