"""The job runner records start, steps, finish and failure, whatever the workflow does."""

import pytest

from apps.jobs.models import Job, JobStep
from apps.jobs.runner import Retry, run_job
from apps.jobs.services import job_create
from workers.errors import NodeUnreachable

pytestmark = pytest.mark.django_db


def test_successful_workflow_records_each_step_in_order():
    job = job_create(kind="worker_check")

    def workflow(run):
        with run.step("first") as step:
            step.log("did the first thing")
        with run.step("second") as step:
            step.skip("already done")

    run_job(job.pk, workflow, task_id="task-1")

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.error == ""
    assert job.celery_task_id == "task-1"
    assert job.attempts == 1
    assert job.started and job.finished and job.started <= job.finished
    steps = list(job.steps.all())
    assert [(s.position, s.name, s.state) for s in steps] == [
        (1, "first", JobStep.State.SUCCEEDED),
        (2, "second", JobStep.State.SKIPPED),
    ]
    assert steps[0].output == "did the first thing\n"
    assert all(s.finished for s in steps)


def test_exception_fails_the_job_and_names_the_step():
    job = job_create(kind="worker_check")

    def workflow(run):
        with run.step("ip_allocate"):
            pass
        with run.step("node_apply_bird") as step:
            step.log("uploading")
            raise RuntimeError("bird -p said no")

    result = run_job(job.pk, workflow)

    job.refresh_from_db()
    assert result.state == job.state == Job.State.FAILED
    assert job.error == "step node_apply_bird failed: RuntimeError: bird -p said no"
    failed = job.steps.get(name="node_apply_bird")
    assert failed.state == JobStep.State.FAILED
    assert failed.output == "uploading\nRuntimeError: bird -p said no\n"
    assert job.steps.get(name="ip_allocate").state == JobStep.State.SUCCEEDED


def test_steps_record_structured_data_even_when_they_fail():
    job = job_create(kind="worker_check")

    def workflow(run):
        with run.step("node_verify_sessions") as step:
            step.record(sessions=[{"protocol": "rr_1", "established": True}])
            step.record(routes=3)
        with run.step("bgw_load") as step:
            step.record(diff="+ set a")
            raise RuntimeError("commit check failed")

    run_job(job.pk, workflow)

    data = {s.name: s.data for s in JobStep.objects.filter(job=job)}
    assert data == {
        "node_verify_sessions": {"sessions": [{"protocol": "rr_1", "established": True}],
                                 "routes": 3},
        "bgw_load": {"diff": "+ set a"},
    }  # fmt: skip


def test_exception_outside_any_step_still_fails_the_job():
    job = job_create(kind="worker_check")

    def workflow(run):
        raise ValueError("no such cluster")

    run_job(job.pk, workflow)

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.error == "job failed: ValueError: no such cluster"


def test_transient_failure_with_tries_left_keeps_the_job_open_for_a_retry():
    job = job_create(kind="worker_check")
    calls = []

    def flaky(run):
        calls.append(1)
        with run.step("node_connect"):
            if len(calls) == 1:
                raise NodeUnreachable("connection refused")

    with pytest.raises(Retry):
        run_job(job.pk, flaky, final_attempt=False)
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING
    assert job.error == "node_connect: connection refused (will retry)"

    run_job(job.pk, flaky, final_attempt=False)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.attempts == 2
    assert list(job.steps.values_list("attempt", "name", "state")) == [
        (1, "node_connect", "failed"),
        (2, "node_connect", "succeeded"),
    ]


def test_transient_failure_on_the_last_try_fails_the_job():
    job = job_create(kind="worker_check")
    seen = []

    def unreachable(run):
        try:
            with run.step("node_connect"):
                raise NodeUnreachable("no route to host")
        except NodeUnreachable as exc:
            seen.append(run.will_retry(exc))
            raise

    run_job(job.pk, unreachable, final_attempt=True)

    job.refresh_from_db()
    assert seen == [False]
    assert job.state == Job.State.FAILED
    assert job.error == "step node_connect failed: NodeUnreachable: no route to host"


def test_finished_job_is_not_run_again():
    job = job_create(kind="worker_check")
    run_job(job.pk, lambda run: None)
    calls = []

    run_job(job.pk, lambda run: calls.append(1))

    job.refresh_from_db()
    assert calls == []
    assert job.attempts == 1
    assert job.state == Job.State.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_fail_the_committed_write(monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    from apps.jobs.services import job_start
    from apps.jobs.tasks import run_job_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_job_task, "apply_async", broker_down)

    job = job_start(kind="worker_check")  # commits; queuing fails after the commit

    job.refresh_from_db()
    assert job.state == Job.State.QUEUED  # kept, for jobs.requeue_stale to send again
    assert "Connection refused" in caplog.text
