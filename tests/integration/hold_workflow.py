"""A test-only workflow that holds a device lock until the test lets it go.

`hold_device` takes the lock of node HELD_DEVICE, counts that it did (`locked`), waits
while the job's `hold` key exists in Redis, then counts that it finished (`completed`):
how many times a job's work really ran is read from those counters. The worker processes
of the tests register it through hold_worker_app; the test process through a fixture.
"""

import time

import redis
from django.conf import settings

from apps.jobs.locks import device_lock
from apps.jobs.registry import Workflow

HELD_DEVICE = ("node", 990_001)
HOLD_LIMIT_SECONDS = 120  # a failed test never leaves a worker blocked for good


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def key(job_id: int, what: str) -> str:
    return f"fabric:test-hold:{job_id}:{what}"


def hold(job_id: int) -> None:
    """Make job `job_id` wait inside its lock until `let_go`."""
    client().set(key(job_id, "hold"), 1, ex=HOLD_LIMIT_SECONDS)


def let_go(job_id: int) -> None:
    client().delete(key(job_id, "hold"))


def count(job_id: int, what: str) -> int:
    return int(client().get(key(job_id, what)) or 0)


def hold_device(run) -> None:
    redis_client = client()
    with run.step("hold_device") as step, device_lock(*HELD_DEVICE):
        redis_client.incr(key(run.job.pk, "locked"))
        step.log("device held")
        while redis_client.exists(key(run.job.pk, "hold")):
            time.sleep(0.05)
        redis_client.incr(key(run.job.pk, "completed"))


HOLD = Workflow("test_hold", "Test: hold a device", hold_device, None, 0)
