"""Waiting, written once: poll a probe until a deadline, and the backoff between retries.

No Django here: adapters (node setup, hypervisor drivers) use it as well as workflows.
"""

import random
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


def backoff(retries: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `retries + 1`: exponential, capped, with jitter.

    `base * 2**retries`, at most `cap`, then a random point in its upper half ("equal
    jitter"): retries of jobs that failed together spread out, and none comes back at once.
    """
    delay = min(cap, base * 2 ** min(retries, 32))
    return random.uniform(delay / 2, delay)
