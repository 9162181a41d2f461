"""Every Job kind has a task, and every beat entry names a task the worker knows."""

from django.conf import settings

from apps.jobs.models import Job
from fabric_portal.celery import app
from workers.tasks import TASKS_BY_KIND


def test_every_job_kind_has_a_task():
    assert set(TASKS_BY_KIND) == set(Job.Kind.values)


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name}: unknown task {entry['task']}"
