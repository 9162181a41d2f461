"""The one place that records a job's run: start, each step, finish, exception.

A Celery task hands its workflow function to `run_job`; the function receives a `JobRun`
and wraps each piece of work in `run.step("name")`. Whatever happens, the Job row ends
`succeeded` or `failed`, and a failure names the step it happened in.

While the workflow runs, a background thread renews the job's heartbeat every
FABRIC_JOB_HEARTBEAT_SECONDS. A worker that dies stops beating: job_resume_orphans
(apps/jobs/services.py, on beat) then records the lost attempt, releases its device locks
and queues the job again. A job whose heartbeat is fresh is never run by a second worker.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.services import instance_set_state
from apps.jobs.locks import locks_held_by
from apps.jobs.models import Job, JobStep
from workers.errors import TransientError

logger = logging.getLogger(__name__)


class Retry(Exception):  # noqa: N818 - it asks for a retry; it is not an error of the job
    """Raised by run_job for a transient failure with tries left: the task retries later."""


class AttemptLost(Exception):  # noqa: N818 - the attempt was taken over, not an error
    """This worker's heartbeat stopped counting (another worker took the job over)."""


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
        self.lost = threading.Event()  # set by the heartbeat when another worker took over
        self._position = 0

    def will_retry(self, exc: BaseException) -> bool:
        """Whether `exc` ends this attempt only (transient, tries left) and not the job.

        Workflows undo their half-done work only when this is False.
        """
        if isinstance(exc, AttemptLost):
            return True  # another worker carries on: nothing of this attempt is undone
        return isinstance(exc, (TransientError, Retry)) and not self.final_attempt

    @contextmanager
    def step(self, name: str) -> Iterator[StepLog]:
        if self.lost.is_set():
            raise AttemptLost(f"job {self.job.pk} was taken over; {name} not started")
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


def worker_name() -> str:
    """This worker process, as a running job records it: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Renews a running job's heartbeat from a background thread while its workflow runs.

    The beat only counts while the job is still ours (`worker` unchanged); when another
    worker took it over, `run.lost` is set and the workflow stops at its next step.
    """

    def __init__(self, run: "JobRun", worker: str):
        self._run = run
        self._worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-job-{run.job.pk}", daemon=True
        )

    def __enter__(self) -> "Heartbeat":
        # A job run inside an open transaction (inline, e.g. a test's or a script's) is
        # invisible to other connections, the heartbeat's own included: nobody else can
        # take it over, and a beat from another connection would find no row.
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        interval = settings.FABRIC_JOB_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                try:
                    ours = Job.objects.filter(
                        pk=self._run.job.pk, state=Job.State.RUNNING, worker=self._worker
                    ).update(heartbeat=timezone.now())
                except Exception:  # a database hiccup: the next beat tries again
                    logger.warning(
                        "job %s: heartbeat not recorded", self._run.job.pk, exc_info=True
                    )
                    continue
                if not ours:
                    logger.warning("job %s was taken over by another worker", self._run.job.pk)
                    self._run.lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection


def _claim(job_id: int, task_id: str, worker: str) -> Job | None:
    """Mark the job running as ours; None when it is finished or alive elsewhere."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_done:
            logger.info("job %s already %s; nothing to do", job.pk, job.state)
            return None
        now = timezone.now()
        alive_after = now - timedelta(seconds=settings.FABRIC_JOB_ORPHAN_SECONDS)
        held = job.worker and job.worker != worker and job.heartbeat  # "": handed back
        if held and job.heartbeat >= alive_after:
            # a redelivered message while its worker is alive: that worker goes on
            logger.info("job %s is running on %s; not run twice", job.pk, job.worker)
            return None
        job_set_state(
            job,
            Job.State.RUNNING,
            attempts=job.attempts + 1,
            started=job.started or now,
            celery_task_id=task_id or job.celery_task_id,
            worker=worker,
            heartbeat=now,
        )
    return job


def run_job(
    job_id: int,
    workflow: Callable[[JobRun], None],
    *,
    task_id: str = "",
    final_attempt: bool = True,
) -> Job:
    """Run `workflow` as job `job_id`, recording everything on the Job row.

    A job that is already finished, or running with a fresh heartbeat on another worker,
    is left alone (a redelivered task does nothing). A transient failure (`TransientError`,
    `Retry`) with tries left raises `Retry`, so the task retries and the job stays open;
    any other exception fails the job. An attempt another worker took over ends quietly.
    """
    worker = worker_name()
    job = _claim(job_id, task_id, worker)
    if job is None:
        return Job.objects.get(pk=job_id)

    run = JobRun(job, final_attempt=final_attempt)
    try:
        with Heartbeat(run, worker), locks_held_by(job.pk):
            workflow(run)
    except Exception as exc:
        if run.lost.is_set():
            logger.warning("job %s: attempt %s ended, another worker has it", job.pk, job.attempts)
            return Job.objects.get(pk=job_id)
        if run.will_retry(exc):
            # the retry may run on any worker: nobody holds the job while it waits
            job.error = f"{run.failed_step or 'job'}: {exc} (will retry)"
            job.heartbeat = None
            job.save(update_fields=["error", "heartbeat"])
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
    job_set_state(job, state, error=error, error_type=job.error_type, finished=timezone.now())


def job_set_state(job: Job, state: str, **fields) -> None:
    """The one writer of a job's state, through Job.TRANSITIONS (see instance_set_state);
    `fields` are saved with it."""
    instance_set_state(job, state, **fields)
