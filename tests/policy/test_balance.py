"""Balancers: power of two choices by load, round robin, peak EWMA of latency."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from mesh.config.policy import Balancing
from mesh.policy.balance import (
    DEFAULT_DECAY_S,
    LeastRequestBalancer,
    PeakEwmaBalancer,
    RoundRobinBalancer,
    make_balancer,
)
from tests.policy.conftest import FakeClock


def test_p2c_with_two_endpoints_takes_the_less_loaded() -> None:
    balancer = LeastRequestBalancer(random.Random(3))
    loads = {"busy": 5, "idle": 0}
    assert {balancer.pick(["busy", "idle"], loads) for _ in range(200)} == {"idle"}


def test_p2c_prefers_less_loaded_in_proportion() -> None:
    balancer = LeastRequestBalancer(random.Random(11))
    endpoints = list(range(10))
    picks = Counter(balancer.pick(endpoints, lambda endpoint: endpoint) for _ in range(20_000))
    # Endpoint i (load i) wins a pair only against a busier one: (9 - i) of the 45 pairs.
    for endpoint in endpoints:
        expected = (9 - endpoint) / 45
        assert picks[endpoint] / 20_000 == pytest.approx(expected, abs=0.015)
    assert picks[9] == 0  # the busiest never wins


def test_p2c_breaks_ties_at_random() -> None:
    balancer = LeastRequestBalancer(random.Random(5))
    picks = Counter(balancer.pick(["a", "b"], {}) for _ in range(4000))  # all loads 0
    assert picks["a"] / 4000 == pytest.approx(0.5, abs=0.04)


def test_p2c_single_endpoint_and_empty_list() -> None:
    balancer = LeastRequestBalancer(random.Random(1))
    assert balancer.pick(["only"], {"only": 100}) == "only"
    with pytest.raises(ValueError, match="no endpoint to pick from"):
        balancer.pick([], {})


def test_p2c_is_reproducible_with_a_seed() -> None:
    endpoints = [f"e{i}" for i in range(8)]
    first, second = LeastRequestBalancer(random.Random(9)), LeastRequestBalancer(random.Random(9))
    assert [first.pick(endpoints, {}) for _ in range(50)] == [
        second.pick(endpoints, {}) for _ in range(50)
    ]


def test_round_robin_order() -> None:
    balancer = RoundRobinBalancer()
    assert [balancer.pick(["a", "b", "c"]) for _ in range(7)] == list("abcabca")


def test_round_robin_with_a_random_start_keeps_the_cycle() -> None:
    balancer = RoundRobinBalancer(random.Random(4))
    picks = [balancer.pick(["a", "b", "c"], {}) for _ in range(6)]
    assert sorted(picks[:3]) == ["a", "b", "c"]
    assert picks[3:] == picks[:3]


def test_round_robin_follows_a_changed_list() -> None:
    balancer = RoundRobinBalancer()
    assert [balancer.pick(["a", "b"]) for _ in range(2)] == ["a", "b"]
    assert [balancer.pick(["a", "b", "c"]) for _ in range(3)] == ["c", "a", "b"]
    with pytest.raises(ValueError):
        balancer.pick([])


def test_make_balancer(clock: FakeClock) -> None:
    rng = random.Random(0)
    assert isinstance(make_balancer(Balancing.LEAST_REQUEST, rng, clock), LeastRequestBalancer)
    assert isinstance(make_balancer(Balancing.ROUND_ROBIN, rng, clock), RoundRobinBalancer)
    assert isinstance(make_balancer(Balancing.PEAK_EWMA, rng, clock), PeakEwmaBalancer)


def test_balancers_that_do_not_learn_accept_observations() -> None:
    """The relay reports every attempt whatever the policy."""
    for balancer in (LeastRequestBalancer(random.Random(2)), RoundRobinBalancer()):
        balancer.observe("a", 0.5)
        balancer.observe("a", 0.5, lower_bound=True)
        balancer.forget(["b"])
    first = RoundRobinBalancer()
    assert [first.pick(["a", "b"]) for _ in range(4)] == ["a", "b", "a", "b"]


# Peak EWMA ------------------------------------------------------------------

FAST_S = 0.002
SLOW_S = 0.050


def peak_ewma(clock: FakeClock, seed: int = 1) -> PeakEwmaBalancer:
    return PeakEwmaBalancer(random.Random(seed), clock)


def measured(clock: FakeClock, latencies: dict[str, float]) -> PeakEwmaBalancer:
    """A balancer that has seen a few answers of each endpoint, 10 ms apart."""
    balancer = peak_ewma(clock)
    for _ in range(5):
        for endpoint, seconds in latencies.items():
            balancer.observe(endpoint, seconds)
        clock.advance(0.01)
    return balancer


def test_peak_ewma_the_slow_endpoint_loses_almost_every_pick(clock: FakeClock) -> None:
    balancer = measured(clock, {"fast": FAST_S, "slow": SLOW_S})
    picks: Counter[str] = Counter()
    for _ in range(1000):  # sequential calls: nothing in flight at a pick
        endpoint = balancer.pick(["fast", "slow"], {})
        picks[endpoint] += 1
        balancer.observe(endpoint, FAST_S if endpoint == "fast" else SLOW_S)
        clock.advance(0.005)
    assert picks["slow"] <= 5


def test_peak_ewma_weighs_latency_against_calls_in_flight(clock: FakeClock) -> None:
    """Cost is latency x (in flight + 1): a 25x slower endpoint wins once the fast one has
    more than 24 calls pending, not before."""
    balancer = measured(clock, {"fast": FAST_S, "slow": SLOW_S})
    assert {balancer.pick(["fast", "slow"], {"fast": 20}) for _ in range(50)} == {"fast"}
    assert {balancer.pick(["fast", "slow"], {"fast": 30}) for _ in range(50)} == {"slow"}


def test_peak_ewma_among_many_spreads_over_the_fast_ones(clock: FakeClock) -> None:
    endpoints = ["f1", "f2", "f3", "slow"]
    balancer = measured(clock, {"f1": FAST_S, "f2": FAST_S, "f3": FAST_S, "slow": SLOW_S})
    picks = Counter(balancer.pick(endpoints, {}) for _ in range(3000))
    assert picks["slow"] == 0
    for fast in ("f1", "f2", "f3"):
        assert picks[fast] / 3000 == pytest.approx(1 / 3, abs=0.05)


def test_peak_ewma_a_peak_replaces_the_estimate_at_once(clock: FakeClock) -> None:
    balancer = measured(clock, {"a": FAST_S, "b": FAST_S})
    balancer.observe("a", 0.200)
    assert balancer.latency("a") == pytest.approx(0.200)
    assert {balancer.pick(["a", "b"], {}) for _ in range(100)} == {"b"}


def test_peak_ewma_a_faster_sample_decays_the_estimate_by_elapsed_time(
    clock: FakeClock,
) -> None:
    balancer = peak_ewma(clock)
    balancer.observe("a", 0.100)
    clock.advance(DEFAULT_DECAY_S)  # one time constant: the old estimate keeps 1/e
    balancer.observe("a", 0.010)
    expected = 0.100 * math.exp(-1) + 0.010 * (1 - math.exp(-1))
    assert balancer.latency("a") == pytest.approx(expected)
    # Samples in quick succession each move it a little.
    balancer.observe("a", 0.010)
    assert balancer.latency("a") == pytest.approx(expected)


def test_peak_ewma_a_recovered_endpoint_is_probed_and_let_back_in(clock: FakeClock) -> None:
    latency = {"fast": FAST_S, "slow": SLOW_S}
    balancer = measured(clock, latency)
    latency["slow"] = FAST_S  # it recovers, but nothing tells the balancer yet
    first_probe: float | None = None
    late_picks: Counter[str] = Counter()
    started = clock.now
    for call in range(24_000):  # a call every 5 ms: 120 s
        endpoint = balancer.pick(["fast", "slow"], {})
        if endpoint == "slow" and first_probe is None:
            first_probe = clock.now - started
        if call >= 20_000:
            late_picks[endpoint] += 1
        balancer.observe(endpoint, latency[endpoint])
        clock.advance(0.005)
    # The stale estimate is discounted by exp(-age/decay): 50 ms reaches 2 ms after
    # decay x ln(25) = 32 s.
    assert first_probe is not None
    assert first_probe == pytest.approx(DEFAULT_DECAY_S * math.log(SLOW_S / FAST_S), rel=0.1)
    # Answering fast again, it converges and takes its share of the calls.
    assert balancer.latency("slow") == pytest.approx(FAST_S, rel=0.05)
    assert late_picks["slow"] / 4000 == pytest.approx(0.5, abs=0.1)


def test_peak_ewma_a_slow_endpoint_still_slow_is_probed_rarely(clock: FakeClock) -> None:
    balancer = measured(clock, {"fast": FAST_S, "slow": SLOW_S})
    picks: Counter[str] = Counter()
    for _ in range(20_000):  # 100 s
        endpoint = balancer.pick(["fast", "slow"], {})
        picks[endpoint] += 1
        balancer.observe(endpoint, FAST_S if endpoint == "fast" else SLOW_S)
        clock.advance(0.005)
    # About one probe every decay x ln(25) = 32 s, each resetting the estimate.
    assert 1 <= picks["slow"] <= 4


def test_peak_ewma_an_unmeasured_endpoint_is_picked(clock: FakeClock) -> None:
    balancer = measured(clock, {"a": FAST_S, "b": FAST_S})
    assert balancer.latency("new") is None
    picks = [balancer.pick(["a", "b", "new"], {}) for _ in range(30)]
    # Whenever it is drawn (2 of 3 pairs) it wins, nothing of its own being in flight.
    assert picks.count("new") >= 10


def test_peak_ewma_an_unmeasured_endpoint_with_a_call_in_flight_costs_the_mean(
    clock: FakeClock,
) -> None:
    """No herd onto a new endpoint while its first answer is pending."""
    balancer = measured(clock, {"a": FAST_S, "b": SLOW_S})
    mean = (FAST_S + SLOW_S) / 2
    # new: mean x 2 = 52 ms against a: 2 ms x 2 = 4 ms and b: 50 ms x 1.
    picks = Counter(balancer.pick(["a", "b", "new"], {"new": 1, "a": 1}) for _ in range(600))
    assert picks["new"] == 0
    assert mean * 2 > SLOW_S
    # With b measured slower (200 ms), new at the mean of a and b (101 ms) beats it.
    balancer.observe("b", 0.2)
    picks = Counter(balancer.pick(["b", "new"], {"new": 1, "b": 1}) for _ in range(50))
    assert picks["new"] == 50


def test_peak_ewma_a_lower_bound_only_raises_the_estimate(clock: FakeClock) -> None:
    balancer = measured(clock, {"a": FAST_S, "b": SLOW_S})
    before = balancer.latency("b")
    balancer.observe("b", 0.010, lower_bound=True)  # a hedge cancelled after 10 ms
    assert balancer.latency("b") == before
    balancer.observe("a", 0.030, lower_bound=True)  # a fast endpoint cut off after 30 ms
    assert balancer.latency("a") == pytest.approx(0.030)
    # A lower bound on an unmeasured endpoint below the mean says nothing.
    balancer.observe("new", 0.0001, lower_bound=True)
    assert balancer.latency("new") is None
    balancer.observe("new", 0.5, lower_bound=True)
    assert balancer.latency("new") == pytest.approx(0.5)


def test_peak_ewma_cancelled_hedges_keep_first_attempts_off_the_slow_endpoint(
    clock: FakeClock,
) -> None:
    """The relay's slow-instance case: every attempt on the slow endpoint is hedged away
    and cancelled after 15 ms, so only lower bounds are ever seen of it."""
    balancer = peak_ewma(clock, seed=4)
    slow_first = 0
    for _ in range(400):
        endpoint = balancer.pick(["fast", "slow"], {})
        if endpoint == "slow":
            slow_first += 1
            balancer.observe("slow", 0.015, lower_bound=True)
        else:
            balancer.observe("fast", FAST_S)
        clock.advance(0.005)
    assert slow_first <= 3


def test_peak_ewma_ignores_meaningless_samples(clock: FakeClock) -> None:
    balancer = measured(clock, {"a": FAST_S})
    balancer.observe("a", float("nan"))
    balancer.observe("a", -1.0)
    assert balancer.latency("a") == pytest.approx(FAST_S, rel=0.01)  # 10 ms of age only


def test_peak_ewma_forgetting_bounds_memory(clock: FakeClock) -> None:
    balancer = peak_ewma(clock)
    for generation in range(50):  # endpoints come and go, as instances are replaced
        current = [f"g{generation}-{i}" for i in range(4)]
        for endpoint in current:
            balancer.observe(endpoint, FAST_S * (1 + generation))
        balancer.forget(current)
        assert len(balancer) == 4
    assert balancer.latency("g0-0") is None
    # The mean an unmeasured endpoint in flight costs follows the endpoints kept.
    assert balancer.latency("g49-0") == pytest.approx(FAST_S * 50)


def test_peak_ewma_single_endpoint_empty_list_and_bad_decay(clock: FakeClock) -> None:
    balancer = peak_ewma(clock)
    assert balancer.pick(["only"], {"only": 100}) == "only"
    with pytest.raises(ValueError, match="no endpoint to pick from"):
        balancer.pick([], {})
    with pytest.raises(ValueError, match="decay_s must be > 0"):
        PeakEwmaBalancer(random.Random(1), clock, decay_s=0)


def test_peak_ewma_unmeasured_endpoints_tie_and_split_at_random(clock: FakeClock) -> None:
    balancer = peak_ewma(clock, seed=8)
    picks = Counter(balancer.pick(["a", "b"], lambda endpoint: 0) for _ in range(4000))
    assert picks["a"] / 4000 == pytest.approx(0.5, abs=0.04)


def test_peak_ewma_is_reproducible_with_a_seed(clock: FakeClock) -> None:
    endpoints = [f"e{i}" for i in range(6)]
    first, second = peak_ewma(clock, seed=9), peak_ewma(clock, seed=9)
    for balancer in (first, second):
        for index, endpoint in enumerate(endpoints):
            balancer.observe(endpoint, 0.001 * (index + 1))
    assert [first.pick(endpoints, {}) for _ in range(50)] == [
        second.pick(endpoints, {}) for _ in range(50)
    ]
