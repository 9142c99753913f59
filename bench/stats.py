"""Order statistics of benchmark samples: percentiles and medians."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `fraction` of all
    samples at or below it (`fraction` in (0, 1]; 0.5 is the median, 0.99 the p99).

    Unlike interpolating definitions it always returns a value that was measured. Raises
    ValueError for an empty sequence or a fraction outside (0, 1].
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"percentile fraction must be within (0, 1] (got {fraction})")
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered))  # 1-based
    return ordered[max(rank, 1) - 1]


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count).

    Used for per-round figures such as requests per second, where rounds are few and a
    single disturbed round should not move the result. Raises ValueError when empty.
    """
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
