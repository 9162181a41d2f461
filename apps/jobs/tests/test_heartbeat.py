"""A running job beats; a job whose worker stopped beating is resumed, its locks released;
a job whose worker is alive is never run twice."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs.locks import DeviceBusy, device_lock, job_locks_release, locks_held_by
from apps.jobs.models import Job, JobStep
from apps.jobs.runner import Retry, run_job, worker_name
from apps.jobs.services import job_create, job_requeue_stale, job_resume_orphans
from workers.errors import NodeUnreachable

pytestmark = pytest.mark.django_db


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _running(job, *, worker, age):
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING,
        attempts=1,
        worker=worker,
        heartbeat=timezone.now() - timedelta(seconds=age),
    )


@pytest.fixture
def queued(monkeypatch):
    """The ids job_enqueue sends to the broker (recorded, not sent)."""
    from apps.jobs.tasks import run_job_task

    sent = []
    monkeypatch.setattr(run_job_task, "apply_async", lambda args, **_: sent.append(args[0]))
    return sent


@pytest.mark.django_db(transaction=True)
def test_the_runner_records_its_worker_and_renews_the_heartbeat_while_the_job_runs(settings):
    settings.FABRIC_JOB_HEARTBEAT_SECONDS = 0.05
    job = job_create(kind="worker_check")
    seen = {}

    def workflow(run):
        first = Job.objects.get(pk=job.pk)
        seen["worker"], seen["first"] = first.worker, first.heartbeat
        seen["renewed"] = _wait(lambda: Job.objects.get(pk=job.pk).heartbeat > first.heartbeat)

    run_job(job.pk, workflow)

    assert seen["worker"] == worker_name()
    assert seen["first"] is not None
    assert seen["renewed"], "the heartbeat was not renewed while the workflow ran"
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED


def test_a_redelivered_task_does_not_run_a_job_alive_on_another_worker():
    job = job_create(kind="worker_check")
    _running(job, worker="elsewhere:1", age=1)
    calls = []

    run_job(job.pk, lambda run: calls.append(1))

    job.refresh_from_db()
    assert calls == []
    assert (job.state, job.attempts, job.worker) == (Job.State.RUNNING, 1, "elsewhere:1")


def test_a_job_whose_worker_stopped_beating_is_claimed_by_the_next_delivery():
    job = job_create(kind="worker_check")
    _running(job, worker="elsewhere:1", age=3600)
    calls = []

    run_job(job.pk, lambda run: calls.append(1))

    job.refresh_from_db()
    assert calls == [1]
    assert (job.state, job.attempts, job.worker) == (Job.State.SUCCEEDED, 2, worker_name())


def test_a_job_waiting_for_its_retry_holds_no_heartbeat_so_any_worker_may_retry_it():
    job = job_create(kind="worker_check")

    def workflow(run):
        with run.step("node_connect"):
            raise NodeUnreachable("node1: timed out")

    with pytest.raises(Retry):
        run_job(job.pk, workflow, final_attempt=False)

    job.refresh_from_db()
    assert job.state == Job.State.RUNNING
    assert job.heartbeat is None
    assert job_resume_orphans(older_than=0) == []  # its Celery retry owns it


def test_an_orphaned_job_is_recorded_unlocked_and_queued_again(
    queued, django_capture_on_commit_callbacks
):
    job = job_create(kind="worker_check")
    _running(job, worker="doomed:42", age=60)
    JobStep.objects.create(job=job, attempt=1, position=1, name="worker", started=timezone.now())
    with locks_held_by(job.pk), device_lock("node", 900_001, wait=0):
        pass  # released normally: not the lost attempt's any more
    lock = device_lock("node", 900_002, wait=0)
    with locks_held_by(job.pk):
        lock.__enter__()  # held when the worker "dies"

    with django_capture_on_commit_callbacks(execute=True):
        resumed = job_resume_orphans()

    assert resumed == [job.pk]
    assert queued == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.worker) == (Job.State.RUNNING, "")  # held by nobody
    assert job.heartbeat > timezone.now() - timedelta(seconds=5)  # handed to the broker then
    assert job_resume_orphans(older_than=0) == []  # not lost twice
    steps = list(job.steps.values_list("name", "state"))
    assert steps == [("worker", "failed"), ("attempt_lost", "failed")]
    lost = job.steps.get(name="attempt_lost")
    assert lost.data["worker"] == "doomed:42"
    assert lost.data["released_locks"] == ["fabric:device-lock:node:900002"]
    assert "doomed:42" in lost.output
    with device_lock("node", 900_002, wait=0):
        pass  # free at once, not after FABRIC_DEVICE_LOCK_SECONDS


def test_a_job_with_a_fresh_heartbeat_is_never_taken_over_however_long_it_runs(queued):
    job = job_create(kind="worker_check")
    Job.objects.filter(pk=job.pk).update(started=timezone.now() - timedelta(hours=5))
    _running(job, worker="busy:7", age=1)

    assert job_resume_orphans() == []

    job.refresh_from_db()
    assert (job.worker, queued) == ("busy:7", [])
    assert not job.steps.exists()


def test_releasing_a_lost_jobs_locks_leaves_a_successors_lock_alone(settings):
    job = job_create(kind="worker_check")
    with locks_held_by(job.pk):
        lock = device_lock("rr", 900_003, wait=0)
        lock.__enter__()
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.set("fabric:device-lock:rr:900003", b"successor-token")  # expired, taken again

    assert job_locks_release(job.pk) == []
    assert client.get("fabric:device-lock:rr:900003") == b"successor-token"
    with pytest.raises(DeviceBusy), device_lock("rr", 900_003, wait=0):
        pass
    client.delete("fabric:device-lock:rr:900003")


@pytest.mark.django_db(transaction=True)
@pytest.mark.django_db(transaction=True)  # the heartbeat's own connection sees the takeover
def test_an_attempt_taken_over_stops_at_its_next_step_and_leaves_the_job_to_its_new_worker(
    settings,
):
    settings.FABRIC_JOB_HEARTBEAT_SECONDS = 0.05
    job = job_create(kind="worker_check")
    undone = []

    def workflow(run):
        with run.step("first"):
            Job.objects.filter(pk=job.pk).update(worker="heir:9")  # taken over meanwhile
            assert _wait(run.lost.is_set)
        try:
            with run.step("second"):
                pass
        except Exception as exc:
            if not run.will_retry(exc):
                undone.append(exc)
            raise

    run_job(job.pk, workflow)

    job.refresh_from_db()
    assert (job.state, job.worker) == (Job.State.RUNNING, "heir:9")  # the heir finishes it
    assert list(job.steps.values_list("name", flat=True)) == ["first"]
    assert undone == []


def test_a_resumed_job_whose_message_was_lost_too_is_queued_again_later(queued, settings):
    settings.FABRIC_REQUEUE_AFTER_SECONDS = 600
    job = job_create(kind="worker_check")
    _running(job, worker="", age=601)  # resumed 601 s ago, its message lost
    waiting = job_create(kind="worker_check")  # waits for its Celery retry: left alone
    _running(waiting, worker="retrying:3", age=3600)
    Job.objects.filter(pk=waiting.pk).update(heartbeat=None)

    assert job_requeue_stale() == [job.pk]


def test_a_job_handed_to_the_broker_is_claimed_by_whichever_worker_gets_it():
    job = job_create(kind="worker_check")
    _running(job, worker="", age=1)

    run_job(job.pk, lambda run: None)

    job.refresh_from_db()
    assert (job.state, job.attempts, job.worker) == (Job.State.SUCCEEDED, 2, worker_name())


def test_a_job_run_inside_an_open_transaction_is_never_taken_for_lost(settings):
    """Inline (a test's or a script's transaction): other connections cannot see the job,
    the heartbeat's own included, so it has none; the job runs to its end."""
    settings.FABRIC_JOB_HEARTBEAT_SECONDS = 0.05
    job = job_create(kind="worker_check")

    def workflow(run):
        with run.step("slow"):
            time.sleep(0.5)  # ten heartbeat intervals
        with run.step("after"):
            pass

    run_job(job.pk, workflow)

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert list(job.steps.values_list("name", flat=True)) == ["slow", "after"]
