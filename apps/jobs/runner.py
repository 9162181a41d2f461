"""The one place that records a job's run: start, each step, finish, exception.

A Celery task hands its workflow function to `run_job`; the function receives a `JobRun`
and wraps each piece of work in `run.step("name")`. Whatever happens, the Job row ends
`succeeded` or `failed`, and a failure names the step it happened in.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.utils import timezone

from apps.jobs.models import Job, JobStep
from workers.errors import TransientError

logger = logging.getLogger(__name__)


class Retry(Exception):  # noqa: N818 - it asks for a retry; it is not an error of the job
    """Raised by run_job for a transient failure with tries left: the task retries later."""


_current_step: ContextVar["StepLog | None"] = ContextVar("current_step", default=None)


def log_to_current_step(line: str) -> bool:
    """Add `line` to the output of the step running in this context (False: none runs)."""
    step = _current_step.get()
    if step is None:
        return False
    step.log(line)
    return True


class StepLog:
    """What a running step can tell: output lines, or that it found its work already done."""

    def __init__(self, step: JobStep):
        self._step = step
        self.skipped = False

    def log(self, line: str) -> None:
        self._step.output += line.rstrip("\n") + "\n"
        self._step.save(update_fields=["output"])

    def record(self, **values) -> None:
        """Add `values` (JSON-serialisable) to the step's structured data."""
        self._step.data = {**self._step.data, **values}
        self._step.save(update_fields=["data"])

    def skip(self, reason: str) -> None:
        self.skipped = True
        self.log(reason)


class JobRun:
    """One attempt at a job: hands out numbered steps and remembers which one failed."""

    def __init__(self, job: Job, *, final_attempt: bool = True):
        self.job = job
        self.final_attempt = final_attempt
        self.failed_step: str | None = None
        self._position = 0

    def will_retry(self, exc: BaseException) -> bool:
        """Whether `exc` ends this attempt only (transient, tries left) and not the job.

        Workflows undo their half-done work only when this is False.
        """
        return isinstance(exc, (TransientError, Retry)) and not self.final_attempt

    @contextmanager
    def step(self, name: str) -> Iterator[StepLog]:
        self._position += 1
        step = JobStep.objects.create(
            job=self.job,
            attempt=self.job.attempts,
            position=self._position,
            name=name,
            started=timezone.now(),
        )
        recorder = StepLog(step)
        token = _current_step.set(recorder)
        try:
            yield recorder
        except BaseException as exc:
            step.state = JobStep.State.FAILED
            step.output += f"{type(exc).__name__}: {exc}\n"
            self.failed_step = self.failed_step or name  # the first failure is the cause
            raise
        else:
            step.state = JobStep.State.SKIPPED if recorder.skipped else JobStep.State.SUCCEEDED
        finally:
            _current_step.reset(token)
            step.finished = timezone.now()
            step.save(update_fields=["state", "output", "data", "finished"])


def run_job(
    job_id: int,
    workflow: Callable[[JobRun], None],
    *,
    task_id: str = "",
    final_attempt: bool = True,
) -> Job:
    """Run `workflow` as job `job_id`, recording everything on the Job row.

    A job that is already finished is left alone (a redelivered task does nothing).
    A transient failure (`TransientError`, `Retry`) with tries left raises `Retry`, so the
    task retries and the job stays open; any other exception fails the job.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_done:
            logger.info("job %s already %s; nothing to do", job.pk, job.state)
            return job
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.started = job.started or timezone.now()
        job.celery_task_id = task_id or job.celery_task_id
        job.save(update_fields=["state", "attempts", "started", "celery_task_id"])

    run = JobRun(job, final_attempt=final_attempt)
    try:
        workflow(run)
    except Exception as exc:
        if run.will_retry(exc):
            job.error = f"{run.failed_step or 'job'}: {exc} (will retry)"
            job.save(update_fields=["error"])
            raise Retry(str(exc)) from exc
        logger.exception("job %s failed in step %s", job.pk, run.failed_step)
        where = f"step {run.failed_step}" if run.failed_step else "job"
        job.error_type = type(exc).__name__
        _finish(job, Job.State.FAILED, f"{where} failed: {type(exc).__name__}: {exc}")
        return job
    job.error_type = ""
    _finish(job, Job.State.SUCCEEDED, "")
    return job


def _finish(job: Job, state: str, error: str) -> None:
    job.state = state
    job.error = error
    job.finished = timezone.now()
    job.save(update_fields=["state", "error", "error_type", "finished"])
