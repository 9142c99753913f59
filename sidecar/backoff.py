"""Capped exponential backoff with full jitter, for reconnecting to the registry.

Pure and synchronous: the caller sleeps; this class only says how long. Full jitter (each
delay drawn uniformly from [0, ceiling], the ceiling growing geometrically up to a cap)
spreads a fleet of sidecars that lost the same registry at the same moment across the whole
window instead of letting them reconnect in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """The shape of the schedule. All times in seconds."""

    initial_s: float = 0.1  # ceiling of the first delay
    multiplier: float = 2.0  # growth of the ceiling per attempt
    max_s: float = 5.0  # the ceiling never exceeds this

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.initial_s > 0:
            problems.append(f"backoff.initial_s must be > 0 (got {self.initial_s})")
        if not self.multiplier >= 1:
            problems.append(f"backoff.multiplier must be >= 1 (got {self.multiplier})")
        if not self.max_s >= self.initial_s:
            problems.append(
                f"backoff.max_s must be >= backoff.initial_s (got {self.max_s} < {self.initial_s})"
            )
        if problems:
            raise ValueError("; ".join(problems))


class Backoff:
    """Successive delays: attempt n (from 0) waits uniform(0, ceiling_n), where
    ceiling_n = min(max_s, initial_s * multiplier**n).

    `reset()` after a success starts the schedule over. The RNG is injected so tests can
    seed it (or pass one whose `random()` returns a constant).
    """

    __slots__ = ("_attempts", "_ceiling", "_policy", "_rng")

    def __init__(
        self, policy: BackoffPolicy | None = None, rng: random.Random | None = None
    ) -> None:
        self._policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self._attempts = 0
        self._ceiling = self._policy.initial_s

    @property
    def policy(self) -> BackoffPolicy:
        return self._policy

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    def ceiling(self) -> float:
        """The upper bound of the next delay, in seconds."""
        return self._ceiling

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds, and advances the schedule."""
        delay = self._rng.random() * self._ceiling
        self._attempts += 1
        # Grown iteratively and clamped, so a long outage never overflows a float power.
        self._ceiling = min(self._policy.max_s, self._ceiling * self._policy.multiplier)
        return delay

    def reset(self) -> None:
        """Starts the schedule over (call it once a connection proved healthy)."""
        self._attempts = 0
        self._ceiling = self._policy.initial_s
