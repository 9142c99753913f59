"""Outlier ejection: endpoints that keep failing are left out of load balancing for a while.

Contract (times are seconds on the injected monotonic `clock`):

- `record(endpoint, success)` after each attempt. A success resets the endpoint's count of
  consecutive failures. The `consecutive_failures`-th failure in a row ejects the endpoint
  for `base_ejection_s x k`, capped at `max_ejection_s`, where `k` counts its ejections; `k`
  starts over when the endpoint has stayed un-ejected for `max_ejection_s`. Ejection resets the
  failure count. Outcomes recorded while an endpoint is ejected are stale and ignored.
- At most `max_ejection_ratio` of the endpoints are ejected at once, the share taken of the
  endpoint list last passed to `healthy` or `retain` (with one endpoint, or a ratio below
  1/n, nothing is ejected: ejecting it would leave nothing better to use). A failure that
  would break the ratio does not eject; the next failure tries again.
- `healthy(endpoints)` returns the endpoints not ejected, in order. When fewer than
  `panic_threshold x len(endpoints)` remain it returns all of them ("panic": spreading load
  over sick endpoints beats overloading the last few). Ejections end by the clock.
- With `enabled=False` nothing is ever ejected.

`healthy` returns `endpoints` itself while nothing is ejected, and a cached list while the set
of ejections is unchanged, so the per-call cost is a few comparisons. Keys are any hashable
endpoint identity (e.g. an address).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from mesh.config.policy import OutlierConfig

K = TypeVar("K", bound=Hashable)

# Forgives float rounding in ratio x count comparisons.
_EPSILON = 1e-9


class _Health:
    """What the detector knows of one endpoint."""

    __slots__ = ("consecutive", "ejected_until", "ejections")

    def __init__(self) -> None:
        self.consecutive = 0  # failures in a row since the last success or ejection
        self.ejections = 0  # ejections so far (multiplies the ejection time)
        self.ejected_until = float("-inf")  # clock time the current/last ejection ends


class OutlierDetector(Generic[K]):
    """Per-endpoint failure tracking and ejection for one tool."""

    __slots__ = (
        "_cached_for",
        "_cached_healthy",
        "_cached_version",
        "_clock",
        "_config",
        "_ejected",
        "_endpoint_count",
        "_health",
        "_next_expiry",
        "_version",
        "on_eject",
        "panicking",
    )

    def __init__(self, config: OutlierConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._health: dict[K, _Health] = {}
        self._ejected: dict[K, float] = {}  # endpoint -> end of its ejection
        self._next_expiry = float("inf")  # earliest end among `_ejected`
        self._endpoint_count = 0
        self._version = 0  # bumped whenever `_ejected` changes
        self._cached_for: Sequence[K] | None = None
        self._cached_version = -1
        self._cached_healthy: Sequence[K] = ()
        self.panicking = False  # whether the last `healthy` call fell back to every endpoint
        self.on_eject: Callable[[K], None] | None = None  # told of each ejection (metrics)

    @property
    def ejected_count(self) -> int:
        """Endpoints ejected right now."""
        self._expire(self._clock())
        return len(self._ejected)

    def is_ejected(self, endpoint: K) -> bool:
        """Whether `endpoint` is ejected right now."""
        self._expire(self._clock())
        return endpoint in self._ejected

    def record(self, endpoint: K, success: bool) -> None:
        """The outcome of one attempt on `endpoint`."""
        if not self._config.enabled:
            return
        health = self._health.get(endpoint)
        if success:
            if health is not None and health.consecutive:
                health.consecutive = 0
            return
        if health is None:
            health = self._health[endpoint] = _Health()
        now = self._clock()
        if now < health.ejected_until:
            return  # an attempt that started before the ejection
        health.consecutive += 1
        if health.consecutive >= self._config.consecutive_failures:
            self._try_eject(endpoint, health, now)

    def healthy(self, endpoints: Sequence[K]) -> Sequence[K]:
        """The endpoints to balance over: those not ejected, or all of them in panic."""
        self._endpoint_count = len(endpoints)
        if not self._ejected:
            self.panicking = False
            return endpoints
        self._expire(self._clock())
        if not self._ejected:
            self.panicking = False
            return endpoints
        if endpoints is self._cached_for and self._version == self._cached_version:
            return self._cached_healthy
        ejected = self._ejected
        usable = [endpoint for endpoint in endpoints if endpoint not in ejected]
        self.panicking = len(usable) < self._config.panic_threshold * len(endpoints) - _EPSILON
        result: Sequence[K] = endpoints if self.panicking else usable
        self._cached_for = endpoints
        self._cached_version = self._version
        self._cached_healthy = result
        return result

    def retain(self, endpoints: Iterable[K]) -> None:
        """Forgets every endpoint not in `endpoints` (the tool's new endpoint list)."""
        keep = set(endpoints)
        self._endpoint_count = len(keep)
        for endpoint in [e for e in self._health if e not in keep]:
            del self._health[endpoint]
        gone = [e for e in self._ejected if e not in keep]
        if gone:
            for endpoint in gone:
                del self._ejected[endpoint]
            self._reset_expiry()

    def _try_eject(self, endpoint: K, health: _Health, now: float) -> None:
        config = self._config
        self._expire(now)
        if len(self._ejected) + 1 > config.max_ejection_ratio * self._endpoint_count + _EPSILON:
            return
        if health.ejections and now - health.ejected_until >= config.max_ejection_s:
            health.ejections = 0  # well-behaved for a long while: start the growth over
        health.ejections += 1
        duration = min(config.max_ejection_s, config.base_ejection_s * health.ejections)
        health.ejected_until = now + duration
        health.consecutive = 0
        self._ejected[endpoint] = health.ejected_until
        self._next_expiry = min(self._next_expiry, health.ejected_until)
        self._version += 1
        if self.on_eject is not None:
            self.on_eject(endpoint)

    def ejected_now(self) -> int:
        """Endpoints ejected at this moment; only reads, so another thread may call it."""
        now = self._clock()
        return sum(1 for until in list(self._ejected.values()) if until > now)

    def _expire(self, now: float) -> None:
        if now < self._next_expiry:
            return
        ejected = self._ejected
        for endpoint in [e for e, until in ejected.items() if until <= now]:
            del ejected[endpoint]
        self._reset_expiry()

    def _reset_expiry(self) -> None:
        self._next_expiry = min(self._ejected.values(), default=float("inf"))
        self._version += 1
