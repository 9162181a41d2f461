"""The jobs app's own workflow: a health check of the workers."""

import os
import platform
import socket

from django.db import connection

from apps.jobs.registry import workflow
from apps.jobs.runner import JobRun
from apps.jobs.services import worker_check_start


@workflow(
    "worker_check",
    label="Worker health check",
    restart=lambda _, by: worker_check_start(created_by=by),
)
def worker_check(run: JobRun) -> None:
    """Prove that a worker takes tasks and reaches the database."""
    with run.step("worker") as step:
        step.log(f"host {socket.gethostname()}, pid {os.getpid()}, {platform.python_version()}")
    with run.step("database") as step, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM jobs_job")
        (count,) = cursor.fetchone()
        step.log(f"{connection.vendor} reachable; {count} jobs recorded")
