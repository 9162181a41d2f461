"""A worker SIGKILLed in the middle of a job: its heartbeat stops, the job is resumed by
another worker and completes once, and the device lock it held is released at once.

Production defaults for the broker (CELERY_VISIBILITY_TIMEOUT 3600 s) and the device lock
(FABRIC_DEVICE_LOCK_SECONDS 600 s): only the heartbeat and orphan threshold are short
here, so every recovery below comes from the heartbeat, not from an expiry. The test
process plays beat: it calls job_resume_orphans (what `jobs.resume_orphans` runs).
"""

import signal
import socket
import time

import pytest
from django.conf import settings as django_settings

from apps.jobs import registry
from apps.jobs.models import Job
from apps.jobs.services import job_create, job_enqueue, job_resume_orphans
from apps.jobs.tasks import run_job_task
from tests.conftest import start_celery_worker, stop_celery_worker, wait_for
from tests.integration.hold_workflow import HOLD, count, hold, let_go

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_APP = "tests.integration.hold_worker_app"  # the project's app plus test_hold
QUEUE = "worker-lost"  # only the workers of these tests consume it
HEARTBEAT, ORPHAN = 1, 4
WORKER_ENV = {
    "FABRIC_TASK_QUEUE": QUEUE,
    "FABRIC_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT),
    "FABRIC_JOB_ORPHAN_SECONDS": str(ORPHAN),
}


@pytest.fixture
def hold_kind(monkeypatch, settings):
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the workers share the test database: run through `make test`")
    assert "CELERY_VISIBILITY_TIMEOUT" not in WORKER_ENV
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 3600
    assert settings.FABRIC_DEVICE_LOCK_SECONDS == 600
    monkeypatch.setitem(registry._workflows, HOLD.kind, HOLD)
    settings.FABRIC_TASK_QUEUE = QUEUE
    settings.FABRIC_JOB_ORPHAN_SECONDS = ORPHAN


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(name: str):
        process = start_celery_worker(tmp_path / f"{name}.log", name=name, queues=QUEUE,
                                      env=WORKER_ENV, app=WORKER_APP)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            stop_celery_worker(process)


def order(*, held: bool) -> Job:
    job = job_create(kind=HOLD.kind)
    if held:
        hold(job.pk)
    job_enqueue(job)  # outside a transaction: sent now
    return job


def finished(job: Job):
    return lambda: Job.objects.filter(pk=job.pk, state__in=["succeeded", "failed"]).first()


def test_a_job_of_a_killed_worker_is_resumed_once_and_its_device_lock_freed_at_once(
    hold_kind, workers
):
    doomed = workers("doomed")
    lost = order(held=True)
    wait_for(lambda: count(lost.pk, "locked") == 1, timeout=60, message="never took the lock")
    lost.refresh_from_db()
    assert lost.worker == f"{socket.gethostname()}:{doomed.pid}"

    workers("waiter")
    waiting = order(held=True)  # the same device: waits on the lock the doomed worker holds
    wait_for(lambda: Job.objects.filter(pk=waiting.pk, state="running").exists(), timeout=60,
             message="the second job never started")  # fmt: skip
    let_go(lost.pk)  # its next attempt runs straight through

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert Job.objects.get(pk=lost.pk).state == "running"  # nobody finished it

    # beat's sweep: well within a minute, where the lock's expiry alone would take 600 s
    resumed = wait_for(lambda: job_resume_orphans(), timeout=30, interval=0.5,
                       message="the killed worker's job was never found orphaned")  # fmt: skip
    assert resumed == [lost.pk]
    wait_for(lambda: count(waiting.pk, "locked") == 1, timeout=20,
             message="the device lock of the killed worker was not released")  # fmt: skip

    workers("heir")  # the waiter is busy: a new worker takes the resumed job
    let_go(waiting.pk)
    lost = wait_for(finished(lost), timeout=60, message="the resumed job never finished")
    waiting = wait_for(finished(waiting), timeout=60, message="the waiting job never finished")

    assert (lost.state, lost.error) == ("succeeded", "")
    assert lost.attempts == 2
    assert count(lost.pk, "completed") == 1  # its work ran to the end once
    steps = list(lost.steps.values_list("attempt", "name", "state"))
    assert steps == [
        (1, "hold_device", "failed"),
        (1, "attempt_lost", "failed"),
        (2, "hold_device", "succeeded"),
    ]
    record = lost.steps.get(name="attempt_lost").data
    assert record["worker"] == f"{socket.gethostname()}:{doomed.pid}"
    assert record["released_locks"] == ["fabric:device-lock:node:990001"]
    assert (waiting.state, waiting.attempts, count(waiting.pk, "completed")) == ("succeeded", 1, 1)


def test_a_job_running_past_the_orphan_threshold_with_a_live_heartbeat_runs_once(
    hold_kind, workers
):
    first = workers("first")
    job = order(held=True)
    wait_for(lambda: count(job.pk, "locked") == 1, timeout=60, message="never took the lock")
    job.refresh_from_db()
    assert job.worker == f"{socket.gethostname()}:{first.pid}"
    second = workers("second")

    # the broker delivers the job again (as after its visibility timeout) to the idle worker
    run_job_task.apply_async(args=[job.pk], queue=QUEUE)
    deadline = time.monotonic() + 3 * ORPHAN
    while time.monotonic() < deadline:  # beat sweeps all along, past the threshold
        assert job_resume_orphans() == []
        time.sleep(0.5)
    let_go(job.pk)
    job = wait_for(finished(job), timeout=60, message="the job never finished")

    assert (job.state, job.attempts) == ("succeeded", 1)
    assert count(job.pk, "locked") == count(job.pk, "completed") == 1
    assert list(job.steps.values_list("name", flat=True)) == ["hold_device"]
    assert "not run twice" in second.log_path.read_text()


def test_a_worker_told_to_stop_finishes_its_job_first_and_beats_meanwhile(hold_kind, workers):
    worker = workers("stopping")
    job = order(held=True)
    wait_for(lambda: count(job.pk, "locked") == 1, timeout=60, message="never took the lock")

    worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown: no new task, this one ends
    deadline = time.monotonic() + 2 * ORPHAN
    while time.monotonic() < deadline:
        assert worker.poll() is None  # still finishing its job
        assert job_resume_orphans() == []  # and still beating
        time.sleep(0.5)
    let_go(job.pk)
    assert worker.wait(timeout=60) == 0

    job.refresh_from_db()
    assert (job.state, job.attempts, count(job.pk, "completed")) == ("succeeded", 1, 1)
