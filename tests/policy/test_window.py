"""The bucketed sliding window under the budget and the breaker."""

from __future__ import annotations

import pytest

from mesh.policy.window import SlidingCounts


def test_counts_expire_bucket_by_bucket() -> None:
    counts = SlidingCounts(window_s=10, counters=2, buckets=10)
    for second in range(10):
        counts.roll(100.0 + second)
        counts.add(0)
        counts.add(1, 2)
    assert counts.totals == [10, 20]
    counts.roll(110.0)
    assert counts.totals == [9, 18]
    counts.roll(115.5)
    assert counts.totals == [4, 8]


def test_a_long_idle_gap_clears_everything() -> None:
    counts = SlidingCounts(window_s=1, counters=1)
    counts.roll(5.0)
    counts.add(0, 7)
    counts.roll(1e6)
    assert counts.totals == [0]
    counts.add(0)
    assert counts.totals == [1]


def test_a_clock_stepping_back_keeps_counting() -> None:
    counts = SlidingCounts(window_s=10, counters=1)
    counts.roll(50.0)
    counts.add(0)
    counts.roll(40.0)
    counts.add(0)
    assert counts.totals == [2]


def test_clear() -> None:
    counts = SlidingCounts(window_s=10, counters=1)
    counts.roll(1.0)
    counts.add(0, 3)
    counts.clear()
    assert counts.totals == [0]
    counts.roll(12.0)  # clearing the bucket that held the 3 must not go negative
    assert counts.totals == [0]


def test_invalid_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="window_s must be > 0"):
        SlidingCounts(window_s=0, counters=1)
    with pytest.raises(ValueError, match="buckets and counters must be >= 1"):
        SlidingCounts(window_s=1, counters=0)
