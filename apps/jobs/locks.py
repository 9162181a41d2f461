"""One writer per device: a Redis lock per node, RR or border gateway."""

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from workers.errors import TransientError


class DeviceBusy(TransientError):
    """Another job holds the device's lock."""


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@contextmanager
def device_lock(kind: str, pk: int, *, wait: float | None = None) -> Iterator[None]:
    """Hold the lock of device `kind`/`pk`; asks for a retry if it stays busy."""
    lock = _client().lock(
        f"fabric:device-lock:{kind}:{pk}",
        timeout=settings.FABRIC_DEVICE_LOCK_SECONDS,  # a killed worker's lock expires
        blocking_timeout=wait if wait is not None else settings.FABRIC_DEVICE_LOCK_WAIT_SECONDS,
    )
    if not lock.acquire():
        raise DeviceBusy(f"{kind} {pk} is busy with another job")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass  # expired meanwhile: someone else may hold it now, leave theirs alone
