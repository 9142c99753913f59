"""Load balancing: which endpoint takes the next attempt.

- `LeastRequestBalancer`: power of two random choices. Two distinct endpoints are drawn
  uniformly; the one with fewer calls in flight wins, a tie is broken at random. It avoids
  the herd a global least-loaded pick causes when many callers see the same loads, and
  costs O(1) per pick.
- `RoundRobinBalancer`: each endpoint in turn, from a random offset (so sidecars that start
  together do not all begin with the first endpoint). When the list changes, the turn
  continues modulo its new length.
- `PeakEwmaBalancer`: power of two random choices by expected wait, latency estimate x
  (calls in flight + 1). The estimate is a peak EWMA of each endpoint's attempt latencies:
  it jumps to a slower sample at once and decays towards faster ones with a time constant.
  It keeps first attempts off an endpoint that answers late even when its in-flight count
  stays low (hedged-away attempts are cancelled early, which least request cannot see).

`pick(endpoints, in_flight)` takes the usable endpoints (already filtered by outlier ejection;
for a hedge, without the endpoint already in use) and the calls in flight per endpoint, as a
function or a mapping (missing keys count as 0). It raises ValueError on an empty list: the
caller reports "no healthy endpoint" with its own context.

`observe(endpoint, seconds, lower_bound=...)` tells a balancer how long an attempt took and
`forget(keep)` which endpoints still exist; both are no-ops for the balancers that do not
learn (`learns` False), and a caller may skip timing attempts for those.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, TypeVar

from mesh.config.policy import Balancing

K = TypeVar("K", bound=Hashable)

InFlight = Callable[[K], int] | Mapping[K, int]
Clock = Callable[[], float]  # monotonic seconds


class Balancer(Protocol):
    """Picks one endpoint from a non-empty list; may learn from attempts' latencies."""

    # Whether `observe` does anything: callers skip timing attempts for those that ignore it.
    learns: bool

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K]) -> K: ...

    def observe(self, endpoint: K, seconds: float, *, lower_bound: bool = False) -> None:
        """An attempt on `endpoint` took `seconds`. `lower_bound`: it ended before its
        answer (cancelled, failed, timed out), so the endpoint's latency is at least that."""

    def forget(self, keep: Collection[K]) -> None:
        """Drops what is known of every endpoint not in `keep` (the tool's current ones)."""


def _no_endpoints() -> ValueError:
    return ValueError("balancer: no endpoint to pick from (the list is empty)")


def _two_choices(
    draw: Callable[[], float], endpoints: Sequence[K], count: int, in_flight: InFlight[K]
) -> tuple[K, int, K, int]:
    """Two distinct endpoints drawn uniformly from `endpoints` (`count` >= 2 of them), each
    with its calls in flight."""
    # random() is several times cheaper than randrange(); its bias is below 2^-40.
    first = int(draw() * count)
    second = int(draw() * (count - 1))
    if second >= first:  # draw the second among the others: the two are distinct
        second += 1
    a = endpoints[first]
    b = endpoints[second]
    if callable(in_flight):
        return a, in_flight(a), b, in_flight(b)
    return a, in_flight.get(a, 0), b, in_flight.get(b, 0)


class LeastRequestBalancer:
    """Power of two random choices by calls in flight."""

    learns = False
    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K]) -> K:
        count = len(endpoints)
        if count == 1:
            return endpoints[0]
        if count == 0:
            raise _no_endpoints()
        draw = self._rng.random
        a, load_a, b, load_b = _two_choices(draw, endpoints, count, in_flight)
        if load_a < load_b:
            return a
        if load_b < load_a:
            return b
        return a if draw() < 0.5 else b

    def observe(self, endpoint: K, seconds: float, *, lower_bound: bool = False) -> None:
        """Latencies play no part in a least-request pick."""

    def forget(self, keep: Collection[K]) -> None:
        """Nothing is kept per endpoint."""


class RoundRobinBalancer:
    """Each endpoint in turn."""

    learns = False
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

    def observe(self, endpoint: K, seconds: float, *, lower_bound: bool = False) -> None:
        """Latencies play no part in a round-robin pick."""

    def forget(self, keep: Collection[K]) -> None:
        """Nothing is kept per endpoint."""


DEFAULT_DECAY_S = 10.0
# The latency an endpoint is assumed to have while none has been measured. Its value hardly
# matters: until a first answer every endpoint has it, and after it the mean of the measured
# ones takes over.
NEUTRAL_LATENCY_S = 0.001


class _Estimate:
    """One endpoint's latency estimate (seconds) and when a sample last set it."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float, at: float) -> None:
        self.seconds = seconds
        self.at = at


class PeakEwmaBalancer:
    """Power of two random choices by latency estimate x (calls in flight + 1).

    The estimate of an endpoint (seconds) follows its attempts:
    - a complete sample above the estimate replaces it at once: a slowdown shows on the
      next pick, not after a time constant;
    - a complete sample below it moves the estimate towards it by 1 - exp(-elapsed/decay_s),
      elapsed being the time since the endpoint's previous sample: one sample after a long
      silence counts almost fully, many samples in quick succession each count a little;
    - a lower bound (an attempt cancelled or failed after that long) only raises what a pick
      would see; below it, it says nothing new and is ignored. A hedge that lost is the
      best evidence there is that its endpoint is slow, yet the time it ran is no latency.

    What a pick compares is the estimate discounted by its age, exp(-age/decay_s). Why: an
    endpoint that a high estimate keeps out of every pick has no way to show it recovered.
    The discount makes it cheap again after a while, so it is probed: an endpoint measured
    r times slower than the others gets a call again about decay_s x ln(r) later (23 s for
    r = 10 with the default 10 s), and its answer resets the estimate either way. An endpoint
    answering often is barely discounted (its age stays small).

    An endpoint never measured costs nothing while no call of its is in flight, so a new
    endpoint takes the first pick it is drawn into and is measured at once; while that call
    runs it costs as much as an average endpoint (the mean of the measured ones), so new
    endpoints draw no herd.

    `pick` is O(1) and builds no container. Memory holds the endpoints measured since the
    last `forget(keep)`, which the owner calls when the tool's endpoints change.
    """

    learns = True
    __slots__ = ("_clock", "_estimates", "_inverse_decay", "_rng", "_total")

    def __init__(self, rng: random.Random, clock: Clock, decay_s: float = DEFAULT_DECAY_S) -> None:
        if not decay_s > 0:
            raise ValueError(f"peak EWMA: decay_s must be > 0 (got {decay_s})")
        self._rng = rng
        self._clock = clock
        self._inverse_decay = 1.0 / decay_s
        self._estimates: dict[Hashable, _Estimate] = {}
        self._total = 0.0  # sum of the estimates' seconds: their mean in O(1)

    def pick(self, endpoints: Sequence[K], in_flight: InFlight[K]) -> K:
        count = len(endpoints)
        if count == 1:
            return endpoints[0]
        if count == 0:
            raise _no_endpoints()
        draw = self._rng.random
        a, load_a, b, load_b = _two_choices(draw, endpoints, count, in_flight)
        now = self._clock()
        cost_a = self._latency(a, load_a, now) * (load_a + 1)
        cost_b = self._latency(b, load_b, now) * (load_b + 1)
        if cost_a < cost_b:
            return a
        if cost_b < cost_a:
            return b
        return a if draw() < 0.5 else b

    def _latency(self, endpoint: Hashable, load: int, now: float) -> float:
        """What a pick takes `endpoint`'s latency to be at `now` (seconds)."""
        estimate = self._estimates.get(endpoint)
        if estimate is None:
            return self._neutral() if load else 0.0
        age = now - estimate.at
        if age <= 0.0:
            return estimate.seconds
        return estimate.seconds * math.exp(-age * self._inverse_decay)

    def _neutral(self) -> float:
        estimates = self._estimates
        return self._total / len(estimates) if estimates else NEUTRAL_LATENCY_S

    def latency(self, endpoint: K) -> float | None:
        """`endpoint`'s estimate as a pick sees it now (seconds); None if never measured."""
        if endpoint not in self._estimates:
            return None
        return self._latency(endpoint, 0, self._clock())

    def observe(self, endpoint: K, seconds: float, *, lower_bound: bool = False) -> None:
        if not seconds >= 0.0:  # also refuses NaN: one would poison the mean for good
            return
        now = self._clock()
        estimates = self._estimates
        estimate = estimates.get(endpoint)
        if estimate is None:
            if lower_bound and seconds <= self._neutral():
                return  # "at least a little": no reason to think it slower than the rest
            estimates[endpoint] = _Estimate(seconds, now)
            self._total += seconds
            return
        old = estimate.seconds
        if lower_bound:
            if seconds <= self._latency(endpoint, 0, now):
                return
            new = seconds
        elif seconds >= old:
            new = seconds  # the peak: a slowdown counts at once
        else:
            weight = math.exp(-max(now - estimate.at, 0.0) * self._inverse_decay)
            new = old * weight + seconds * (1.0 - weight)
        estimate.seconds = new
        estimate.at = now
        self._total += new - old

    def forget(self, keep: Collection[K]) -> None:
        estimates = self._estimates
        kept = keep if isinstance(keep, AbstractSet) else frozenset(keep)
        gone = [endpoint for endpoint in estimates if endpoint not in kept]
        for endpoint in gone:
            del estimates[endpoint]
        # Recomputed rather than adjusted: this also sheds the rounding the running sum
        # gathers over many small updates.
        self._total = math.fsum(estimate.seconds for estimate in estimates.values())

    def __len__(self) -> int:
        """How many endpoints have an estimate (what memory holds)."""
        return len(self._estimates)


def make_balancer(balancing: Balancing, rng: random.Random, clock: Clock) -> Balancer:
    """The balancer `balancing` names; `clock` (monotonic seconds) times latency decay."""
    if balancing is Balancing.ROUND_ROBIN:
        return RoundRobinBalancer(rng)
    if balancing is Balancing.PEAK_EWMA:
        return PeakEwmaBalancer(rng, clock)
    return LeastRequestBalancer(rng)
