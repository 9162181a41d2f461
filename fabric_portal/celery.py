"""The Celery application. Tasks live in workers/tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fabric_portal.settings")

app = Celery("fabric_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers", "apps.billing"])
