"""Reads for jobs: the jobs that worked on an object, whether a failed one can be retried
and what its failure most likely means."""

import re
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from apps.jobs import causes, registry
from apps.jobs.models import Job, JobStep


def job_list() -> QuerySet[Job]:
    """Jobs with what their lists and pages show (target type, tenant, who started and who
    acknowledged them) loaded in the same query."""
    return Job.objects.select_related("target_type", "tenant", "created_by", "acknowledged_by")


def steps_in_order() -> QuerySet[JobStep]:
    """Job steps as a job's page shows them: by attempt, then position."""
    return JobStep.objects.order_by("attempt", "position")


def jobs_targeting(model: type[Model], ids) -> QuerySet[Job]:
    """Jobs whose target is a `model` row with one of `ids` (a list or a subquery)."""
    return Job.objects.filter(
        target_type=ContentType.objects.get_for_model(model), target_id__in=ids
    )


def jobs_for(target: Model) -> QuerySet[Job]:
    """Jobs whose target is `target`, newest first."""
    return jobs_targeting(type(target), [target.pk]).order_by("-created", "-id")


def last_job_for(target: Model) -> Job | None:
    return jobs_for(target).first()


def newer_job(job: Job) -> Job | None:
    """The newest job of `job`'s kind on the same target started after it, if any."""
    return (
        Job.objects.filter(
            kind=job.kind,
            target_type_id=job.target_type_id,
            target_id=job.target_id,
            pk__gt=job.pk,
        )  # fmt: skip
        .order_by("-pk")
        .first()
    )


def retry_refusal(job: Job) -> str:
    """Why `job` cannot be retried, or "" when it can: it failed, it is the latest job of
    its kind on its target, the target still exists and its kind restarts. (Whether the
    user may, and the kind's own rules, are checked by the caller and the start service.)"""
    if job.state != Job.State.FAILED:
        return f"Job #{job.pk} is {job.get_state_display().lower()}: only a failed job is retried."
    try:
        flow = registry.get(job.kind)
    except registry.UnknownKind:
        return f"No workflow runs {job.kind} jobs any more."
    if flow.restart is None:
        return flow.no_restart or f"{flow.label} jobs are not retried."
    if newer := newer_job(job):
        return (
            f"Job #{newer.pk} ({newer.get_kind_display().lower()}, {newer.state}) came after "
            f"this one: only the latest {newer.get_kind_display().lower()} job is retried."
        )
    if job.target_type_id and job.target is None:
        return f"{job.target_repr or 'The target'} no longer exists: there is nothing to retry."
    return ""


@dataclass(frozen=True)
class LikelyCause:
    """A failed job's error in words (`cause`) and what to do next (`next_step`)."""

    cause: str
    next_step: str


_RUNNER_ERROR = re.compile(r"failed: (\w+): ")


def likely_cause(job: Job) -> LikelyCause | None:
    """What the failure of `job` most likely means and what to do (None: it did not fail).
    Platform roles only: it talks about devices, as the error does."""
    if job.state != Job.State.FAILED:
        return None
    error_type = job.error_type
    if not error_type and (match := _RUNNER_ERROR.search(job.error)):
        error_type = match.group(1)  # a job that failed before error_type was recorded
    cause = causes.cause_of(error_type)
    restarts = job.kind in registry.kinds() and registry.get(job.kind).restart is not None
    return LikelyCause(
        cause.cause, f"{cause.fix}; then {'Retry' if restarts else 'order it again'}."
    )
