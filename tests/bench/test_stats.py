"""Percentiles and medians of benchmark samples."""

from __future__ import annotations

import pytest

from bench.stats import median, percentile


def test_nearest_rank_percentiles_are_measured_values() -> None:
    samples = list(range(100, 0, -1))  # 1..100, unordered
    assert percentile(samples, 0.50) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100
    assert percentile([7.5], 0.99) == 7.5


def test_p99_of_a_small_set_is_its_maximum() -> None:
    assert percentile([1, 2, 3, 1000], 0.99) == 1000


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_fractions_outside_the_range_are_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1, 2], fraction)


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        median([])


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
