"""The Celery application.

Tasks: `jobs.run` (apps/jobs/tasks.py) runs every Job through its registered workflow;
beat's entries live in fabric_portal/beat.py (CELERY_IMPORTS); webhook deliveries in
apps/billing/tasks.py. workers/ holds no task: it is the adapters, which know no Celery.
"""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fabric_portal.settings")

app = Celery("fabric_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["apps.jobs", "apps.billing"])


@task_prerun.connect
def _forget_content_type_ids(**_):
    # ContentType ids are cached for the life of the process; a database restored or flushed
    # under a running worker (a backup restore, the test suite) gives them new ids, and the
    # change log would then write a stale one. One cheap lookup per task instead.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
