"""Backoff schedule (exponential, full jitter) and pushback parsing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.config.policy import RetryConfig
from mesh.policy.backoff import NEVER, Backoff, parse_pushback

CONFIG = RetryConfig(initial_backoff_s=0.1, max_backoff_s=2.0, multiplier=2.0)


def test_ceiling_grows_by_the_multiplier_until_the_cap() -> None:
    backoff = Backoff(CONFIG, random.Random(1))
    ceilings = [backoff.ceiling(n) for n in range(1, 8)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


def test_huge_retry_numbers_are_capped_not_overflowing() -> None:
    backoff = Backoff(CONFIG, random.Random(1))
    assert backoff.ceiling(100_000) == 2.0
    assert 0 <= backoff.delay(100_000) < 2.0


def test_retry_number_starts_at_one() -> None:
    with pytest.raises(ValueError, match="retry_number must be >= 1"):
        Backoff(CONFIG, random.Random(1)).delay(0)


def test_full_jitter_spreads_over_the_whole_range() -> None:
    backoff = Backoff(CONFIG, random.Random(7))
    delays = [backoff.delay(3) for _ in range(2000)]  # ceiling 0.4
    assert min(delays) >= 0 and max(delays) < 0.4
    # Full jitter: uniform over [0, 0.4), so both ends of the range are reached and the
    # mean sits near the middle.
    assert min(delays) < 0.01 and max(delays) > 0.39
    assert sum(delays) / len(delays) == pytest.approx(0.2, abs=0.01)


def test_same_seed_same_schedule() -> None:
    first = Backoff(CONFIG, random.Random(42))
    second = Backoff(CONFIG, random.Random(42))
    assert [first.delay(n) for n in range(1, 6)] == [second.delay(n) for n in range(1, 6)]


@settings(max_examples=300, deadline=None)
@given(
    initial=st.floats(0.001, 10),
    maximum=st.floats(0.001, 60),
    multiplier=st.floats(1, 10),
    retry_number=st.integers(1, 2000),
    seed=st.integers(0, 2**32),
)
def test_a_delay_stays_within_its_bounds(
    initial: float, maximum: float, multiplier: float, retry_number: int, seed: int
) -> None:
    config = RetryConfig(initial_backoff_s=initial, max_backoff_s=maximum, multiplier=multiplier)
    backoff = Backoff(config, random.Random(seed))
    try:
        expected = min(maximum, initial * multiplier ** (retry_number - 1))
    except OverflowError:
        expected = maximum
    ceiling = backoff.ceiling(retry_number)
    assert ceiling == expected
    assert 0 <= backoff.delay(retry_number) <= ceiling


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (b"0", 0.0),
        (b"250", 0.25),
        (b"1500", 1.5),
        (b" 20 ", 0.02),
        (b"2147483647", 2147483.647),
        (b"-1", NEVER),
        (b"-0", 0.0),
        (b"", NEVER),
        (b"abc", NEVER),
        (b"1.5", NEVER),
        (b"+5", NEVER),
        (b"1e3", NEVER),
        (b"2147483648", NEVER),
        (b"9" * 5000, NEVER),
        ("\u0663".encode(), NEVER),  # a non-ASCII digit
    ],
)
def test_pushback_parsing(value: bytes | None, expected: object) -> None:
    assert parse_pushback(value) == expected


@given(st.binary(max_size=40))
def test_pushback_never_raises(value: bytes) -> None:
    result = parse_pushback(value)
    assert result == NEVER or (isinstance(result, float) and result >= 0)
