"""poll_until: the waiting every workflow and adapter shares."""

import itertools

import pytest

from workers import polling
from workers.polling import poll_until


class Clock:
    """A fake time.monotonic / time.sleep pair: sleeping advances the clock."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(polling.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(polling.time, "sleep", fake.sleep)
    return fake


class Late(Exception):
    pass


def test_returns_the_first_truthy_value(clock):
    answers = iter([None, "", 0, "up", "later"])

    assert poll_until(lambda: next(answers), timeout=10, interval=1, error=Late) == "up"
    assert clock.sleeps == [1, 1, 1]


def test_timeout_raises_the_given_error_built_from_the_last_value(clock):
    looks = itertools.count(1)

    with pytest.raises(Late, match="down after 7 looks"):
        poll_until(
            lambda: f"down after {next(looks)} looks",
            done=lambda answer: "up" in answer,
            timeout=5,
            interval=1,
            error=Late,
        )
    assert clock.now == 6  # looks at 0..5 s, one more once the deadline passed, then the error


def test_an_empty_value_can_be_done_and_error_gets_the_last_value(clock):
    with pytest.raises(Late) as raised:
        poll_until(
            lambda: {"rr1": False},
            done=lambda status: all(status.values()),
            timeout=1,
            interval=0.5,
            error=lambda status: Late(status),
        )
    assert raised.value.args[0] == {"rr1": False}
    assert poll_until(dict, done=lambda s: True, timeout=1, interval=1, error=Late) == {}


def test_a_probe_that_raises_stops_the_wait(clock):
    def probe():
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        poll_until(probe, timeout=10, interval=1, error=Late)
    assert clock.sleeps == []
