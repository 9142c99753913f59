"""Hedge delay: fixed, adaptive from the live p95, floor, disabled."""

from __future__ import annotations

import random

import pytest

from mesh.config.policy import HedgeConfig
from mesh.policy.hedge import LatencyTracker, hedge_delay

ADAPTIVE = HedgeConfig(enabled=True, delay_s=None, adaptive_floor_s=0.01)


def filled(latencies: list[float], **kwargs: int) -> LatencyTracker:
    tracker = LatencyTracker(**kwargs)
    for latency in latencies:
        tracker.record(latency)
    return tracker


def test_disabled_never_hedges() -> None:
    tracker = filled([0.1] * 100)
    assert hedge_delay(HedgeConfig(enabled=False, delay_s=0.05), tracker) is None
    assert hedge_delay(HedgeConfig(enabled=False), tracker) is None


def test_a_fixed_delay_needs_no_samples() -> None:
    assert hedge_delay(HedgeConfig(enabled=True, delay_s=0.05), LatencyTracker()) == 0.05


def test_adaptive_waits_for_enough_samples() -> None:
    tracker = filled([0.2] * 19)
    assert tracker.p95 is None
    assert hedge_delay(ADAPTIVE, tracker) is None
    tracker.record(0.2)
    assert hedge_delay(ADAPTIVE, tracker) == 0.2


def test_adaptive_p95_of_known_samples() -> None:
    # 1..100 ms in random order: the nearest-rank p95 is the 95th smallest, 95 ms.
    latencies = [ms / 1000 for ms in range(1, 101)]
    random.Random(2).shuffle(latencies)
    tracker = filled(latencies, every=1)
    assert tracker.p95 == pytest.approx(0.095)
    assert hedge_delay(ADAPTIVE, tracker) == pytest.approx(0.095)


def test_adaptive_never_below_the_floor() -> None:
    tracker = filled([0.001] * 50)
    assert hedge_delay(ADAPTIVE, tracker) == 0.01
    floor = HedgeConfig(enabled=True, adaptive_floor_s=0.5)
    assert hedge_delay(floor, filled([0.2] * 50)) == 0.5


def test_the_ring_keeps_only_recent_samples() -> None:
    tracker = filled([5.0] * 256 + [0.1] * 256, every=16)
    assert tracker.samples == 256
    assert tracker.p95 == 0.1  # the slow past has rotated out


def test_the_percentile_is_recomputed_every_n_samples() -> None:
    tracker = filled([0.1] * 36, every=16)  # computed at the 20th sample, then the 36th
    assert tracker.p95 == 0.1
    for _ in range(15):
        tracker.record(9.0)
    assert tracker.p95 == 0.1  # cached until the 16th sample since the last computation
    tracker.record(9.0)
    assert tracker.p95 == 9.0  # 16 of 52 samples are 9 s: above the 95th percentile


def test_invalid_tracker_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="min_samples <= size"):
        LatencyTracker(10, min_samples=20)
