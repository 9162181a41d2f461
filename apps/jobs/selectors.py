"""Reads for jobs: the jobs that worked on an object."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from apps.jobs.models import Job


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
