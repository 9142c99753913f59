"""Outlier ejection: consecutive failures, growing ejection time, max share, panic."""

from __future__ import annotations

import pytest

from mesh.config.policy import OutlierConfig
from mesh.policy.outlier import OutlierDetector
from tests.policy.conftest import FakeClock

CONFIG = OutlierConfig(
    consecutive_failures=3,
    base_ejection_s=10,
    max_ejection_s=25,
    max_ejection_ratio=0.5,
    panic_threshold=0.5,
)
ENDPOINTS = ("a", "b", "c", "d")


def fail(detector: OutlierDetector[str], endpoint: str, times: int = 3) -> None:
    for _ in range(times):
        detector.record(endpoint, False)


def detector_for(clock: FakeClock, config: OutlierConfig = CONFIG) -> OutlierDetector[str]:
    detector: OutlierDetector[str] = OutlierDetector(config, clock)
    assert detector.healthy(ENDPOINTS) is ENDPOINTS  # tells it the endpoint list
    return detector


def test_consecutive_failures_eject(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "b", 2)
    assert detector.ejected_count == 0
    fail(detector, "b", 1)
    assert detector.ejected_count == 1
    assert detector.is_ejected("b")
    assert list(detector.healthy(ENDPOINTS)) == ["a", "c", "d"]
    assert not detector.panicking


def test_a_success_resets_the_count(clock: FakeClock) -> None:
    detector = detector_for(clock)
    for _ in range(10):
        fail(detector, "a", 2)
        detector.record("a", True)
    assert detector.ejected_count == 0


def test_ejection_ends_by_the_clock(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    clock.advance(9.9)
    assert list(detector.healthy(ENDPOINTS)) == ["b", "c", "d"]
    clock.advance(0.1)
    assert detector.healthy(ENDPOINTS) is ENDPOINTS
    assert detector.ejected_count == 0


def test_failures_while_ejected_are_ignored(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    fail(detector, "a", 10)  # late results of attempts sent before the ejection
    clock.advance(10)
    assert not detector.is_ejected("a")
    fail(detector, "a", 2)  # the count started over at the ejection
    assert not detector.is_ejected("a")


def test_ejection_time_grows_with_each_ejection_up_to_the_cap(clock: FakeClock) -> None:
    detector = detector_for(clock)
    durations = []
    for _ in range(4):
        fail(detector, "a")
        start = clock.now
        while detector.is_ejected("a"):
            clock.advance(1)
        durations.append(clock.now - start)
    assert durations == [10, 20, 25, 25]


def test_growth_starts_over_after_a_long_healthy_spell(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    clock.advance(10)
    fail(detector, "a")  # second ejection: 20 s
    clock.advance(20 + 25)  # then healthy for max_ejection_s
    fail(detector, "a")
    clock.advance(10)
    assert not detector.is_ejected("a")  # 10 s again, not 30


def test_never_more_than_the_max_share_at_once(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    fail(detector, "b")
    fail(detector, "c")  # would be 3 of 4: refused
    assert detector.ejected_count == 2
    assert not detector.is_ejected("c")
    assert list(detector.healthy(ENDPOINTS)) == ["c", "d"]
    clock.advance(10)  # a and b return
    fail(detector, "c", 1)  # c's run went on: the next failure ejects it
    assert detector.is_ejected("c")


def test_a_single_endpoint_is_never_ejected(clock: FakeClock) -> None:
    detector: OutlierDetector[str] = OutlierDetector(CONFIG, clock)
    assert detector.healthy(["only"]) == ["only"]
    fail(detector, "only", 20)
    assert detector.ejected_count == 0


def test_panic_uses_every_endpoint(clock: FakeClock) -> None:
    config = OutlierConfig(consecutive_failures=1, max_ejection_ratio=1.0, panic_threshold=0.5)
    detector = detector_for(clock, config)
    fail(detector, "a", 1)
    fail(detector, "b", 1)
    assert list(detector.healthy(ENDPOINTS)) == ["c", "d"]  # exactly half: no panic
    assert not detector.panicking
    fail(detector, "c", 1)
    assert detector.healthy(ENDPOINTS) is ENDPOINTS  # one of four left: panic
    assert detector.panicking
    assert detector.ejected_count == 3


def test_without_panic_all_ejected_leaves_nothing(clock: FakeClock) -> None:
    config = OutlierConfig(consecutive_failures=1, max_ejection_ratio=1.0, panic_threshold=0.0)
    detector = detector_for(clock, config)
    for endpoint in ENDPOINTS:
        fail(detector, endpoint, 1)
    assert list(detector.healthy(ENDPOINTS)) == []


def test_healthy_is_cached_while_nothing_changes(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    first = detector.healthy(ENDPOINTS)
    assert detector.healthy(ENDPOINTS) is first
    fail(detector, "b")
    assert list(detector.healthy(ENDPOINTS)) == ["c", "d"]


def test_retain_forgets_removed_endpoints(clock: FakeClock) -> None:
    detector = detector_for(clock)
    fail(detector, "a")
    fail(detector, "b", 2)
    detector.retain(["b", "c", "d"])
    assert detector.ejected_count == 0
    fail(detector, "b", 1)  # b's run is kept
    assert detector.is_ejected("b")


def test_disabled_never_ejects(clock: FakeClock) -> None:
    detector = detector_for(clock, OutlierConfig(enabled=False, consecutive_failures=1))
    for endpoint in ENDPOINTS:
        fail(detector, endpoint, 50)
    assert detector.healthy(ENDPOINTS) is ENDPOINTS
    assert detector.ejected_count == 0


@pytest.mark.parametrize("count", [2, 3, 10])
def test_ratio_is_taken_of_the_current_list(clock: FakeClock, count: int) -> None:
    config = OutlierConfig(consecutive_failures=1, max_ejection_ratio=0.5, panic_threshold=0)
    detector: OutlierDetector[int] = OutlierDetector(config, clock)
    endpoints = list(range(count))
    detector.healthy(endpoints)
    for endpoint in endpoints:
        detector.record(endpoint, False)
    assert detector.ejected_count == count // 2
