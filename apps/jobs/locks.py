"""One writer per device: a Redis lock per node, RR or border gateway.

A lock taken while a job runs is also written down under the job
(`fabric:job-locks:<job id>`, lock name -> token), so that when the job's worker dies
(its heartbeat stops, see job_resume_orphans) its locks are released at once instead of
living out FABRIC_DEVICE_LOCK_SECONDS, which stays the last resort.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import redis
from django.conf import settings

from workers.errors import TransientError


class DeviceBusy(TransientError):
    """Another job holds the device's lock."""


# The job whose workflow runs in this context (set by run_job): its locks are written down.
_holding_job: ContextVar[int | None] = ContextVar("holding_job", default=None)

# Deletes a lock only while it still holds the token it was taken with (not a successor's).
_RELEASE_IF_OWNED = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _job_key(job_id: int) -> str:
    return f"fabric:job-locks:{job_id}"


@contextmanager
def locks_held_by(job_id: int) -> Iterator[None]:
    """Device locks taken inside this block are written down as `job_id`'s."""
    token = _holding_job.set(job_id)
    try:
        yield
    finally:
        _holding_job.reset(token)


@contextmanager
def device_lock(kind: str, pk: int, *, wait: float | None = None) -> Iterator[None]:
    """Hold the lock of device `kind`/`pk`; asks for a retry if it stays busy."""
    client = _client()
    name = f"fabric:device-lock:{kind}:{pk}"
    lock = client.lock(
        name,
        timeout=settings.FABRIC_DEVICE_LOCK_SECONDS,  # last resort when nobody releases it
        blocking_timeout=wait if wait is not None else settings.FABRIC_DEVICE_LOCK_WAIT_SECONDS,
    )
    if not lock.acquire():
        raise DeviceBusy(f"{kind} {pk} is busy with another job")
    job_id = _holding_job.get()
    if job_id is not None:
        key = _job_key(job_id)
        client.hset(key, name, lock.local.token)
        client.expire(key, settings.FABRIC_DEVICE_LOCK_SECONDS)
    try:
        yield
    finally:
        if job_id is not None:
            client.hdel(_job_key(job_id), name)
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass  # expired meanwhile: someone else may hold it now, leave theirs alone


def job_locks_release(job_id: int) -> list[str]:
    """Release the device locks job `job_id` still holds (its worker is gone); returns
    their names. A lock that expired and was taken by another job since is left alone."""
    client = _client()
    key = _job_key(job_id)
    held = client.hgetall(key)
    release = client.register_script(_RELEASE_IF_OWNED)
    released = [
        name.decode() for name, token in sorted(held.items()) if release(keys=[name], args=[token])
    ]
    client.delete(key)
    return released
