"""The retry budget: ratio of recent calls plus a per-second floor, over a sliding window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.config.policy import RetryConfig
from mesh.policy.budget import RetryBudget
from tests.policy.conftest import FakeClock


def spend_all(budget: RetryBudget, limit: int = 10_000) -> int:
    granted = 0
    while granted < limit and budget.try_spend():
        granted += 1
    return granted


def test_the_ratio_of_calls_bounds_retries(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0, window_s=10, clock=clock)
    for _ in range(100):
        budget.record_call()
    assert budget.available() == pytest.approx(20)
    assert spend_all(budget) == 20
    assert not budget.try_spend()
    for _ in range(5):  # five more calls deposit one more token
        budget.record_call()
    assert spend_all(budget) == 1


def test_float_rounding_does_not_cost_a_token(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.29, min_per_second=0, window_s=10, clock=clock)
    for _ in range(100):
        budget.record_call()
    assert spend_all(budget) == 29  # 0.29 x 100 is 28.999999999999996 in floats


def test_the_floor_allows_retries_without_traffic(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=2, window_s=10, clock=clock)
    assert spend_all(budget) == 20  # 2 per second x a 10 s window
    assert not budget.try_spend()


def test_floor_and_ratio_add_up(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=1, window_s=10, clock=clock)
    for _ in range(10):
        budget.record_call()
    assert spend_all(budget) == 15


def test_spent_tokens_expire_with_the_window(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=1, window_s=10, clock=clock)
    assert spend_all(budget) == 10
    clock.advance(5)
    assert not budget.try_spend()  # still within the window
    clock.advance(5)
    assert spend_all(budget) == 10  # a whole window later the spends are gone


def test_calls_expire_with_the_window(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=1.0, min_per_second=0, window_s=10, clock=clock)
    for _ in range(10):
        budget.record_call()
    clock.advance(10)
    assert not budget.try_spend()  # the deposits of calls a window ago are gone
    assert budget.available() == 0


def test_the_window_slides_bucket_by_bucket(clock: FakeClock) -> None:
    clock.now = 1000.0  # at a bucket boundary (1 s buckets)
    budget = RetryBudget(ratio=1.0, min_per_second=0, window_s=10, clock=clock)
    for second in range(10):
        budget.record_call()
        if second < 9:
            clock.advance(1)
    assert budget.available() == 10
    clock.advance(1)  # the first second's call leaves the window
    assert budget.available() == 9
    clock.advance(4)
    assert budget.available() == 5


def test_the_floor_is_per_second_over_a_long_run(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=3, window_s=10, clock=clock)
    granted = 0
    for _ in range(1200):  # 120 s, a try every 100 ms, no calls at all
        granted += budget.try_spend()
        clock.advance(0.1)
    # 3 per second: at most 3 x (120 + one window), at least 3 x (120 - one window).
    assert 3 * 110 <= granted <= 3 * 130


def test_from_config(clock: FakeClock) -> None:
    config = RetryConfig(budget_ratio=0.1, budget_min_per_second=1, budget_window_s=5)
    budget = RetryBudget.from_config(config, clock)
    for _ in range(30):
        budget.record_call()
    assert spend_all(budget) == 3 + 5


def test_invalid_arguments_are_named(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="window_s must be > 0"):
        RetryBudget(0.2, 10, 0, clock)
    with pytest.raises(ValueError, match="ratio and min_per_second must be >= 0"):
        RetryBudget(-0.1, 10, 10, clock)


# Steps are multiples of 1/8 s so that float times are exact and the test's own window
# arithmetic agrees with the budget's buckets.
_operation = st.one_of(
    st.just(("call", 0.0)),
    st.just(("retry", 0.0)),
    st.tuples(st.just("advance"), st.integers(1, 40).map(lambda eighths: eighths / 8)),
)


@settings(max_examples=150, deadline=None)
@given(
    operations=st.lists(_operation, max_size=300),
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0]),
    min_per_second=st.integers(0, 3),
    window_s=st.sampled_from([1.0, 2.0, 10.0]),
)
def test_a_budget_is_never_exceeded(
    operations: list[tuple[str, float]], ratio: float, min_per_second: int, window_s: float
) -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio, min_per_second, window_s, clock)
    bucket_s = window_s / 10
    calls: list[float] = []
    spends: list[float] = []
    for kind, step in operations:
        if kind == "advance":
            clock.advance(step)
        elif kind == "call":
            budget.record_call()
            calls.append(clock.now)
        elif budget.try_spend():
            now = clock.now
            spends.append(now)
            # Whatever the bucketing, retries of the last (window - one bucket) seconds never
            # outnumber the tokens of the calls of the last window plus the floor.
            recent_spends = sum(1 for t in spends if t > now - (window_s - bucket_s))
            window_calls = sum(1 for t in calls if t > now - window_s)
            assert recent_spends <= ratio * window_calls + min_per_second * window_s + 1e-6
