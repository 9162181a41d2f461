"""Waiting, written once: poll a probe until a deadline (retries of tasks wait through
Celery's own retry_backoff / retry_jitter).

No Django here: adapters (node setup, hypervisor drivers) use it as well as workflows.
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    probe: Callable[[], T],
    *,
    timeout: float,
    interval: float,
    error: Callable[[T], BaseException],
    done: Callable[[T], bool] = bool,
) -> T:
    """Call `probe` every `interval` seconds until `done(value)`; return that value.

    Args:
        probe: one look at the world (a command, a status query).
        timeout: seconds after the first call; one more look is taken after it ran out.
        interval: seconds between two looks.
        error: builds the exception to raise from the last value seen.
        done: whether a value ends the wait (by default: it is truthy).

    Raises:
        Whatever `error(last value)` returns, once `timeout` has passed; whatever `probe`
        raises (a probe may raise to stop waiting early).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise error(value)
        time.sleep(interval)
