"""The reconnection schedule: capped exponential ceilings, full jitter, reset."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.backoff import Backoff, BackoffPolicy


class Constant(random.Random):
    """An RNG whose random() always returns `value` (1.0 hits each ceiling exactly)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceilings_double_from_100ms_up_to_the_5s_cap() -> None:
    backoff = Backoff(BackoffPolicy(), Constant(1.0))
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.1, multiplier=2, max_s=5), random.Random(42))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed sequence
    again = Backoff(BackoffPolicy(), random.Random(42))
    assert [again.next_delay() for _ in ceilings] == delays  # seeded: reproducible


def test_reset_starts_the_schedule_over() -> None:
    backoff = Backoff(BackoffPolicy(), Constant(1.0))
    for _ in range(5):
        backoff.next_delay()
    assert backoff.attempts == 5 and backoff.ceiling() == pytest.approx(3.2)
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == pytest.approx(0.1)


def test_a_very_long_outage_stays_capped() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=1, multiplier=10, max_s=30), Constant(1.0))
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": 0}, "backoff.initial_s must be > 0 (got 0)"),
        ({"multiplier": 0.5}, "backoff.multiplier must be >= 1 (got 0.5)"),
        ({"initial_s": 2, "max_s": 1}, "backoff.max_s must be >= backoff.initial_s (got 1 < 2)"),
    ],
)
def test_policy_names_the_bad_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BackoffPolicy(**kwargs)


def test_policy_reports_every_bad_field_at_once() -> None:
    with pytest.raises(ValueError) as raised:
        BackoffPolicy(initial_s=-1, multiplier=0)
    assert "initial_s" in str(raised.value) and "multiplier" in str(raised.value)


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    initial=st.floats(min_value=0.001, max_value=2),
    multiplier=st.floats(min_value=1, max_value=10),
    extra=st.floats(min_value=0, max_value=60),
    count=st.integers(min_value=1, max_value=60),
    reset_at=st.integers(min_value=0, max_value=60),
)
def test_every_delay_is_within_its_ceiling_and_the_cap(
    seed: int, initial: float, multiplier: float, extra: float, count: int, reset_at: int
) -> None:
    policy = BackoffPolicy(initial_s=initial, multiplier=multiplier, max_s=initial + extra)
    backoff = Backoff(policy, random.Random(seed))
    ceiling = initial
    for attempt in range(count):
        if attempt == reset_at:
            backoff.reset()
            ceiling = initial
        delay = backoff.next_delay()
        assert 0 <= delay <= min(ceiling, policy.max_s) * (1 + 1e-12)
        assert delay <= policy.max_s
        ceiling = min(policy.max_s, ceiling * multiplier)
