"""Load balancing: which endpoint takes the next attempt.

- `LeastRequestBalancer`: power of two random choices. Two distinct endpoints are drawn
  uniformly; the one with fewer calls in flight wins, a tie is broken at random. It avoids
  the herd a global least-loaded pick causes when many callers see the same loads, and
  costs O(1) per pick.
- `RoundRobinBalancer`: each endpoint in turn, from a random offset (so sidecars that start
  together do not all begin with the first endpoint). When the list changes, the turn
  continues modulo its new length.

`pick(endpoints, in_flight)` takes the usable endpoints (already filtered by outlier ejection;
for a hedge, without the endpoint already in use) and the calls in flight per endpoint, as a
function or a mapping (missing keys count as 0). It raises ValueError on an empty list: the
caller reports "no healthy endpoint" with its own context.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Protocol, TypeVar

from mesh.config.policy import Balancing

K = TypeVar("K", bound=Hashable)

InFlight = Callable[[K], int] | Mapping[K, int]


class Balancer(Protocol):
    """Picks one endpoint from a non-empty list."""

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K]) -> K: ...


def _no_endpoints() -> ValueError:
    return ValueError("balancer: no endpoint to pick from (the list is empty)")


class LeastRequestBalancer:
    """Power of two random choices by calls in flight."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K]) -> K:
        count = len(endpoints)
        if count == 1:
            return endpoints[0]
        if count == 0:
            raise _no_endpoints()
        # random() is several times cheaper than randrange(); its bias is below 2^-40.
        draw = self._rng.random
        first = int(draw() * count)
        second = int(draw() * (count - 1))
        if second >= first:  # draw the second among the others: the two are distinct
            second += 1
        a = endpoints[first]
        b = endpoints[second]
        if callable(in_flight):
            load_a = in_flight(a)
            load_b = in_flight(b)
        else:
            load_a = in_flight.get(a, 0)
            load_b = in_flight.get(b, 0)
        if load_a < load_b:
            return a
        if load_b < load_a:
            return b
        return a if draw() < 0.5 else b


class RoundRobinBalancer:
    """Each endpoint in turn."""

    __slots__ = ("_next",)

    def __init__(self, rng: random.Random | None = None) -> None:
        # A random start spreads the first calls of sidecars started together.
        self._next = rng.randrange(1 << 16) if rng is not None else 0

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K] | None = None) -> K:
        count = len(endpoints)
        if count == 0:
            raise _no_endpoints()
        turn = self._next
        self._next = turn + 1
        return endpoints[turn % count]


def make_balancer(balancing: Balancing, rng: random.Random) -> Balancer:
    """The balancer `balancing` names."""
    if balancing is Balancing.ROUND_ROBIN:
        return RoundRobinBalancer(rng)
    return LeastRequestBalancer(rng)
