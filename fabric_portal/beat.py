"""Celery beat's entries (CELERY_BEAT_SCHEDULE in settings.py): thin, each calls one service.

They sit here, in the project package, because they reach several apps; the worker imports
this module through CELERY_IMPORTS. Their names are those they had in workers/tasks.py, so
a beat schedule saved by an earlier release still finds them.
"""

from celery import shared_task

from apps.compute.services import idempotency_keys_purge
from apps.fabric.bgp_sessions import collect_bgp_sessions
from apps.jobs.models import Job
from apps.jobs.services import job_requeue_stale, job_resume_orphans, job_start


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


@shared_task(name="jobs.resume_orphans")
def resume_orphans() -> list[int]:
    """Beat's entry: queue again the running jobs whose worker stopped beating."""
    return job_resume_orphans()


@shared_task(name="compute.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat's entry: forget Idempotency-Keys older than FABRIC_IDEMPOTENCY_KEY_HOURS."""
    return idempotency_keys_purge()


@shared_task(name="fabric.bgp_sessions_collect")
def bgp_sessions_collect() -> dict:
    """Beat's entry: read every RR's and node's BGP sessions (no job rows; a summary)."""
    return collect_bgp_sessions()
