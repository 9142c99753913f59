"""A retry budget per tool: retries (and hedges) stay a small share of real traffic.

The scheme is the token budget of Finagle and Linkerd. Over a sliding window of `window_s`
seconds, with `calls` the original calls recorded and `spent` the retries and hedges granted
in the window, one more retry is granted when

    spent + 1 <= ratio x calls + min_per_second x window_s

i.e. each call deposits `ratio` tokens, a reserve of `min_per_second` tokens per second of the
window lets a tool with little traffic still be retried, a retry or hedge withdraws one token,
and tokens expire with the window. The invariant, checked in the tests: within any one window,
retries granted <= ratio x calls + min_per_second x window_s. Over a long run of T seconds that
bounds what a failing tool sees to (1 + ratio) x calls + min_per_second x (T + window_s).

The window is bucketed (see `mesh.policy.window`): a call or retry counts for between
0.9 x window_s and window_s seconds with the default 10 buckets. Every operation is O(1).
Times are seconds read from the injected monotonic `clock`.
"""

from __future__ import annotations

from collections.abc import Callable

from mesh.config.policy import RetryConfig
from mesh.policy.window import SlidingCounts

_CALLS = 0
_SPENT = 1
# Forgives float rounding in ratio x calls (0.29 x 100 is 28.999999999999996).
_EPSILON = 1e-9


class RetryBudget:
    """Retries and hedges a tool may receive, as a share of its recent calls."""

    __slots__ = ("_clock", "_counts", "_ratio", "_reserve")

    def __init__(
        self,
        ratio: float,
        min_per_second: float,
        window_s: float,
        clock: Callable[[], float],
        *,
        buckets: int = 10,
    ) -> None:
        if ratio < 0 or min_per_second < 0:
            raise ValueError(
                f"retry budget: ratio and min_per_second must be >= 0 "
                f"(got {ratio}, {min_per_second})"
            )
        self._ratio = ratio
        self._reserve = min_per_second * window_s + _EPSILON
        self._counts = SlidingCounts(window_s, counters=2, buckets=buckets)
        self._clock = clock

    @classmethod
    def from_config(cls, retry: RetryConfig, clock: Callable[[], float]) -> RetryBudget:
        """The budget `retry` describes (budget_ratio, budget_min_per_second, budget_window_s)."""
        return cls(retry.budget_ratio, retry.budget_min_per_second, retry.budget_window_s, clock)

    def record_call(self) -> None:
        """Counts one original call (not a retry or hedge): it deposits `ratio` tokens."""
        counts = self._counts
        counts.roll(self._clock())
        counts.add(_CALLS)

    def try_spend(self) -> bool:
        """True, and one token withdrawn, when a retry or hedge may be sent now; else False."""
        counts = self._counts
        counts.roll(self._clock())
        calls, spent = counts.totals
        if spent + 1 > self._ratio * calls + self._reserve:
            return False
        counts.add(_SPENT)
        return True

    def available(self) -> float:
        """Tokens left in the window (retries that `try_spend` would grant now, fractional)."""
        counts = self._counts
        counts.roll(self._clock())
        calls, spent = counts.totals
        return max(0.0, self._ratio * calls + self._reserve - _EPSILON - spent)
