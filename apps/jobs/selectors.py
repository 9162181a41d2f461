"""Reads for jobs: the jobs that worked on an object."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from apps.jobs.models import Job


def jobs_for(target: Model) -> QuerySet[Job]:
    """Jobs whose target is `target`, newest first."""
    return Job.objects.filter(
        target_type=ContentType.objects.get_for_model(type(target)), target_id=target.pk
    ).order_by("-created", "-id")


def last_job_for(target: Model) -> Job | None:
    return jobs_for(target).first()
