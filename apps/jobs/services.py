"""Writes for jobs: create a Job row and queue its task once the transaction commits."""

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.jobs import registry
from apps.jobs.locks import job_locks_release
from apps.jobs.models import Job, JobStep
from apps.jobs.selectors import retry_refusal
from apps.jobs.tasks import run_job_task


def job_create(*, kind: str, target=None, tenant=None, created_by=None) -> Job:
    """A `queued` Job of a registered `kind`, on a target of the model its workflow names."""
    wanted = registry.get(kind).target
    if target is not None and target._meta.label != wanted:
        raise ValidationError({"target": f"a {kind} job targets {wanted or 'nothing'}"})
    job = Job(kind=kind, tenant=tenant, created_by=created_by)
    if target is not None:
        job.target_type = ContentType.objects.get_for_model(target)
        job.target_id = target.pk
        job.target_repr = str(target)[:200]
    job.full_clean()
    job.save()
    return job


def job_enqueue(job: Job) -> None:
    """Queue `jobs.run` for the job after the surrounding transaction commits (never before)."""
    queue = settings.FABRIC_TASK_QUEUE
    # robust: a broker that is down must not turn a committed order into an error page;
    # the job stays `queued` and jobs.requeue_stale sends it again later.
    transaction.on_commit(lambda: run_job_task.apply_async(args=[job.pk], queue=queue), robust=True)


@transaction.atomic
def job_start(*, kind: str, target=None, tenant=None, created_by=None) -> Job:
    """Create a Job row for `kind` on `target` and queue it once the transaction commits."""
    job = job_create(kind=kind, target=target, tenant=tenant, created_by=created_by)
    job_enqueue(job)
    return job


def job_requeue_stale(*, older_than: float | None = None) -> list[int]:
    """Queue again every job still `queued` after `older_than` seconds, or resumed that
    long ago and not taken by any worker since; returns their ids.

    Safe: run_job locks the job row and skips finished jobs, so a message that was only
    late, not lost, runs once.
    """
    age = older_than if older_than is not None else settings.FABRIC_REQUEUE_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=age)
    stale = Job.objects.filter(
        Q(state=Job.State.QUEUED, created__lt=cutoff)
        # resumed after its worker was lost (job_resume_orphans), never claimed since
        | Q(state=Job.State.RUNNING, worker="", heartbeat__lt=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True))
    for job in stale:
        job_enqueue(job)
    return ids


def job_resume_orphans(*, older_than: float | None = None) -> list[int]:
    """Take over every running job whose worker stopped beating `older_than` seconds ago
    (FABRIC_JOB_ORPHAN_SECONDS): record the lost attempt as an `attempt_lost` step naming
    the worker, release the device locks it held and queue the job again; returns their
    ids. The workflows' idempotent steps redo only what the lost attempt left undone.

    A job waiting for a Celery retry holds no heartbeat and is left to its retry; one
    whose worker is alive is never taken, however long it runs. A resumed job no worker
    took (its message lost too) is queued again by job_requeue_stale.
    """
    age = older_than if older_than is not None else settings.FABRIC_JOB_ORPHAN_SECONDS
    resumed = []
    held = Job.objects.filter(state=Job.State.RUNNING, heartbeat__isnull=False).exclude(worker="")
    for pk in held.values_list("pk", flat=True):
        with transaction.atomic():
            cutoff = timezone.now() - timedelta(seconds=age)  # read under the row's lock
            job = held.select_for_update().filter(pk=pk, heartbeat__lt=cutoff).first()
            if job is None:
                continue
            _attempt_lost(job, released=job_locks_release(job.pk))
            # no worker holds it; `heartbeat` says since when (job_requeue_stale's clock)
            job.worker, job.heartbeat = "", timezone.now()
            job.save(update_fields=["worker", "heartbeat"])
            job_enqueue(job)
        resumed.append(pk)
    return resumed


def _attempt_lost(job: Job, *, released: list[str]) -> None:
    """Close the lost attempt's unfinished steps and add one saying what happened."""
    now = timezone.now()
    attempt = job.steps.filter(attempt=job.attempts)
    attempt.filter(state=JobStep.State.RUNNING).update(state=JobStep.State.FAILED, finished=now)
    position = max(attempt.values_list("position", flat=True), default=0) + 1
    locks = ", ".join(released) or "none"
    JobStep.objects.create(
        job=job,
        attempt=job.attempts,
        position=position,
        name="attempt_lost",
        state=JobStep.State.FAILED,
        output=f"worker {job.worker} stopped beating at {job.heartbeat:%Y-%m-%d %H:%M:%S}; "
        f"device locks released: {locks}; job queued again\n",
        data={
            "worker": job.worker,
            "last_heartbeat": job.heartbeat.isoformat(),
            "released_locks": released,
        },
        started=now,
        finished=now,
    )


def worker_check_start(*, created_by=None) -> Job:
    """Queue a health check that proves a worker takes tasks and reaches the database."""
    return job_start(kind="worker_check", created_by=created_by)


@transaction.atomic
def job_retry(*, job: Job, created_by=None) -> Job:
    """Start a failed job's kind again on its target, through the kind's start service
    (so every refusal rule of that kind applies); returns the new job.

    Raises:
        ValidationError: not retryable (naming why: not failed, not the latest of its kind
            on the target, target gone, a kind that is not restarted) or refused by the
            kind's start service (e.g. another job acts on the VM).
    """
    job = Job.objects.select_for_update().get(pk=job.pk)  # two clicks: the second sees the first
    if reason := retry_refusal(job):
        raise ValidationError({"job": reason})
    return registry.get(job.kind).restart(job.target, created_by)


@transaction.atomic
def job_acknowledge(*, job: Job, by) -> Job:
    """Record that `by` took note of a failed job nobody will retry: it leaves the list of
    failures needing attention. Acknowledging again keeps the first acknowledgement.

    Raises:
        ValidationError: the job did not fail.
    """
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.state != Job.State.FAILED:
        raise ValidationError(
            {"state": f"Job #{job.pk} is {job.get_state_display().lower()}: only a failed "
             "job is acknowledged."}
        )  # fmt: skip
    if job.acknowledged is None:
        job.acknowledged, job.acknowledged_by = timezone.now(), by
        job.save(update_fields=["acknowledged", "acknowledged_by"])
    return job
