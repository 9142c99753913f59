"""The circuit breaker state machine, on a fake clock."""

from __future__ import annotations

import pytest

from mesh.config.policy import STATUS_CODES, BreakerConfig
from mesh.policy.breaker import (
    ADMITTED,
    HALF_OPEN_RETRY_AFTER_S,
    BreakerState,
    CircuitBreaker,
)
from tests.policy.conftest import FakeClock

OK = STATUS_CODES["OK"]
UNAVAILABLE = STATUS_CODES["UNAVAILABLE"]
INVALID_ARGUMENT = STATUS_CODES["INVALID_ARGUMENT"]
CANCELLED = STATUS_CODES["CANCELLED"]

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN

# Only the consecutive rule, unless a test says otherwise.
CONSECUTIVE = BreakerConfig(
    consecutive_failures=3,
    failure_rate=0,
    open_for_s=10,
    open_for_multiplier=2,
    max_open_for_s=35,
    half_open_calls=1,
)


class Recorder:
    def __init__(self) -> None:
        self.transitions: list[tuple[BreakerState, BreakerState]] = []

    def __call__(self, old: BreakerState, new: BreakerState) -> None:
        self.transitions.append((old, new))


def call(
    breaker: CircuitBreaker, ok: bool, code: int | None = None, duration: float = 0.01
) -> None:
    admission = breaker.try_acquire()
    assert admission.allowed, admission
    breaker.record(ok, OK if ok else (code if code is not None else UNAVAILABLE), duration)


def trip(breaker: CircuitBreaker, failures: int = 3) -> None:
    for _ in range(failures):
        call(breaker, ok=False)
    assert breaker.state is OPEN


def test_closed_admits_without_allocating(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    assert breaker.state is CLOSED
    assert breaker.try_acquire() is ADMITTED


def test_consecutive_failures_trip_it(clock: FakeClock) -> None:
    recorder = Recorder()
    breaker = CircuitBreaker(CONSECUTIVE, clock, on_transition=recorder)
    call(breaker, ok=False)
    call(breaker, ok=False)
    assert breaker.state is CLOSED
    call(breaker, ok=False)
    assert breaker.state is OPEN
    assert recorder.transitions == [(CLOSED, OPEN)]
    refused = breaker.try_acquire()
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(10)
    assert refused.explanation == "is open after 3 consecutive failures"


def test_a_success_or_a_non_failure_code_resets_the_run(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    for _ in range(5):
        call(breaker, ok=False)
        call(breaker, ok=False)
        call(breaker, ok=True)
    for _ in range(5):
        call(breaker, ok=False)
        call(breaker, ok=False)
        call(breaker, ok=False, code=INVALID_ARGUMENT)  # the tool answered: not a failure
    assert breaker.state is CLOSED


def test_cancelled_calls_are_neutral(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    call(breaker, ok=False)
    call(breaker, ok=False)
    call(breaker, ok=False, code=CANCELLED)  # neither resets nor extends the run
    assert breaker.state is CLOSED
    call(breaker, ok=False)
    assert breaker.state is OPEN


def test_open_refuses_until_its_time_then_half_opens(clock: FakeClock) -> None:
    recorder = Recorder()
    breaker = CircuitBreaker(CONSECUTIVE, clock, on_transition=recorder)
    trip(breaker)
    clock.advance(9.5)
    refused = breaker.try_acquire()
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.5)
    assert breaker.state is OPEN
    clock.advance(0.5)
    assert breaker.state is OPEN  # the move happens on the next call, not by itself
    assert breaker.try_acquire().allowed
    assert breaker.state is HALF_OPEN
    assert recorder.transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_half_open_admits_only_its_probes(clock: FakeClock) -> None:
    config = BreakerConfig(consecutive_failures=3, failure_rate=0, open_for_s=10, half_open_calls=2)
    breaker = CircuitBreaker(config, clock)
    trip(breaker)
    clock.advance(10)
    assert breaker.try_acquire().allowed
    assert breaker.try_acquire().allowed
    refused = breaker.try_acquire()
    assert not refused.allowed
    assert refused.retry_after_s == HALF_OPEN_RETRY_AFTER_S
    assert refused.explanation == (
        "is half-open after 3 consecutive failures, with 2 probe calls in flight"
    )
    breaker.record(True, OK, 0.01)
    assert breaker.state is HALF_OPEN  # one of two probes succeeded
    assert not breaker.try_acquire().allowed  # its slot is not given again
    breaker.record(True, OK, 0.01)
    assert breaker.state is CLOSED
    assert breaker.try_acquire() is ADMITTED


def test_a_failed_probe_reopens_for_longer_until_the_cap(clock: FakeClock) -> None:
    recorder = Recorder()
    breaker = CircuitBreaker(CONSECUTIVE, clock, on_transition=recorder)
    trip(breaker)
    opened = []
    for _ in range(4):
        opened.append(breaker.open_for_s)
        clock.advance(breaker.open_for_s)
        call(breaker, ok=False)  # the probe fails
        assert breaker.state is OPEN
    opened.append(breaker.open_for_s)
    assert opened == [10, 20, 35, 35, 35]  # x2 each time, capped at max_open_for_s
    refused = breaker.try_acquire()
    assert refused.retry_after_s == pytest.approx(35)
    assert refused.explanation == "is open after 3 consecutive failures"
    assert recorder.transitions[-2:] == [(OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]


def test_a_close_resets_the_open_time(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    trip(breaker)
    clock.advance(10)
    call(breaker, ok=False)
    assert breaker.open_for_s == 20
    clock.advance(20)
    call(breaker, ok=True)
    assert breaker.state is CLOSED
    assert breaker.open_for_s == 0
    trip(breaker)
    assert breaker.open_for_s == 10


def test_failures_before_the_close_do_not_count_after_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    call(breaker, ok=False)
    call(breaker, ok=False)
    call(breaker, ok=False)
    clock.advance(10)
    call(breaker, ok=True)
    call(breaker, ok=False)
    call(breaker, ok=False)
    assert breaker.state is CLOSED


RATE = BreakerConfig(consecutive_failures=0, failure_rate=0.5, window_s=10, minimum_calls=10)


def test_failure_rate_trips_only_with_minimum_calls(clock: FakeClock) -> None:
    breaker = CircuitBreaker(RATE, clock)
    for _ in range(4):
        call(breaker, ok=False)
        call(breaker, ok=True)
    call(breaker, ok=False)  # 5 of 9 failed: above the rate, below minimum_calls
    assert breaker.state is CLOSED
    call(breaker, ok=True)  # 5 of 10: the rate counts now
    assert breaker.state is OPEN
    assert breaker.try_acquire().explanation == (
        "is open after 5 of the last 10 calls failed within 10s (50%, threshold 50%)"
    )


def test_failure_rate_below_threshold_stays_closed(clock: FakeClock) -> None:
    breaker = CircuitBreaker(RATE, clock)
    for _ in range(50):
        call(breaker, ok=False)
        call(breaker, ok=True)
        call(breaker, ok=True)  # a third fail
    assert breaker.state is CLOSED


def test_failures_leave_the_rate_window(clock: FakeClock) -> None:
    breaker = CircuitBreaker(RATE, clock)
    for _ in range(9):
        call(breaker, ok=False)
    clock.advance(10)  # those nine are a window old
    for _ in range(9):
        call(breaker, ok=True)
    call(breaker, ok=False)
    assert breaker.state is CLOSED  # 1 of 10, not 10 of 19


SLOW = BreakerConfig(
    consecutive_failures=0,
    failure_rate=0,
    window_s=10,
    minimum_calls=4,
    slow_call_s=1.0,
    slow_call_rate=0.5,
    open_for_s=5,
)


def test_slow_call_rate_trips_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(SLOW, clock)
    call(breaker, ok=True, duration=1.0)  # slow though successful
    call(breaker, ok=True, duration=0.1)
    call(breaker, ok=True, duration=2.0)
    assert breaker.state is CLOSED  # below minimum_calls
    call(breaker, ok=True, duration=0.2)
    assert breaker.state is OPEN
    assert breaker.try_acquire().explanation == (
        "is open after 2 of the last 4 calls took 1s or longer within 10s (50%, threshold 50%)"
    )


def test_slowness_is_ignored_without_a_slow_rule(clock: FakeClock) -> None:
    breaker = CircuitBreaker(BreakerConfig(slow_call_s=0.5, slow_call_rate=0), clock)
    for _ in range(100):
        call(breaker, ok=True, duration=5.0)
    assert breaker.state is CLOSED


def test_a_slow_probe_reopens_when_the_slow_rule_is_on(clock: FakeClock) -> None:
    breaker = CircuitBreaker(SLOW, clock)
    for _ in range(4):
        call(breaker, ok=True, duration=3.0)
    assert breaker.state is OPEN
    clock.advance(5)
    assert breaker.try_acquire().allowed
    clock.advance(3)
    breaker.record(True, OK, 3.0)
    assert breaker.state is OPEN
    assert breaker.open_for_s == 10


def test_outcomes_while_open_are_ignored(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    in_flight = [breaker.try_acquire() for _ in range(5)]
    assert all(admission.allowed for admission in in_flight)
    for _ in range(3):
        breaker.record(False, UNAVAILABLE, 0.1)
    assert breaker.state is OPEN
    breaker.record(True, OK, 0.1)  # late results of calls admitted before the trip
    breaker.record(True, OK, 0.1)
    assert breaker.state is OPEN


def test_late_results_while_half_open_count_as_probe_outcomes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    assert breaker.try_acquire().allowed  # a long call, admitted while closed
    trip(breaker)
    clock.advance(10)
    assert breaker.try_acquire().allowed  # the probe
    clock.advance(1)
    breaker.record(False, UNAVAILABLE, 11.0)  # the long call fails late: still failing
    assert breaker.state is OPEN
    assert breaker.open_for_s == 20


def test_a_cancelled_probe_frees_its_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONSECUTIVE, clock)
    trip(breaker)
    clock.advance(10)
    assert breaker.try_acquire().allowed
    assert not breaker.try_acquire().allowed
    breaker.record(False, CANCELLED, 0.0)
    assert breaker.state is HALF_OPEN
    assert breaker.try_acquire().allowed  # another call probes instead
    breaker.record(True, OK, 0.0)
    assert breaker.state is CLOSED


def test_disabled_always_admits(clock: FakeClock) -> None:
    recorder = Recorder()
    breaker = CircuitBreaker(BreakerConfig(enabled=False), clock, on_transition=recorder)
    for _ in range(100):
        call(breaker, ok=False)
    assert breaker.state is CLOSED
    assert breaker.try_acquire() is ADMITTED
    assert recorder.transitions == []


def test_default_config_trips_on_five_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(BreakerConfig(), clock)
    for _ in range(4):
        call(breaker, ok=False, code=STATUS_CODES["INTERNAL"])
    assert breaker.state is CLOSED
    call(breaker, ok=False, code=STATUS_CODES["DEADLINE_EXCEEDED"])
    assert breaker.state is OPEN
    assert breaker.try_acquire().retry_after_s == pytest.approx(10)
