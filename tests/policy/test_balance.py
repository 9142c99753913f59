"""Balancers: power of two choices by load, round robin."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mesh.config.policy import Balancing
from mesh.policy.balance import LeastRequestBalancer, RoundRobinBalancer, make_balancer


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


def test_make_balancer() -> None:
    rng = random.Random(0)
    assert isinstance(make_balancer(Balancing.LEAST_REQUEST, rng), LeastRequestBalancer)
    assert isinstance(make_balancer(Balancing.ROUND_ROBIN, rng), RoundRobinBalancer)
