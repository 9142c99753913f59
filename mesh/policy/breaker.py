"""A circuit breaker for one tool and method: fail fast while the method keeps failing.

States and transitions (times are seconds on the injected monotonic `clock`):

- CLOSED: every call is admitted. Each recorded outcome updates a count of consecutive
  failures and a sliding window (`window_s`, 10 buckets) of calls, failures and slow calls.
  The breaker trips to OPEN when any enabled rule holds:
  consecutive failures >= `consecutive_failures`; or, with at least `minimum_calls` calls in
  the window, failures >= `failure_rate` x calls; or slow calls >= `slow_call_rate` x calls.
- OPEN: calls are refused with the time left until the breaker half-opens. The first trip
  after a close (or ever) opens for `open_for_s`; each trip straight from HALF_OPEN multiplies
  that by `open_for_multiplier`, capped at `max_open_for_s`; a close resets it.
- HALF_OPEN: reached on the first `try_acquire` after the open time ran out. Up to
  `half_open_calls` real calls are admitted as probes; once all of them succeed the breaker
  CLOSES (with an empty window); the first probe that fails (or is slow, when the slow-call
  rule is on) OPENS it again for longer. Other calls are refused meanwhile.

Outcomes (`record`): a call failed when it did not succeed and its status code is in
`failure_codes`; a CANCELLED call not listed there is neutral (the agent gave up: it says
nothing of the tool) and only frees its probe slot; any other outcome is a success, since the
tool answered. A call is slow when `slow_call_s` is set and its duration reaches it. Outcomes
recorded while OPEN (calls admitted before the trip) are ignored. Outcomes recorded while
HALF_OPEN all count as probe outcomes, even that of a call admitted before the trip: its late
failure reopens the breaker, and its late success is fresh evidence the tool answers. (Telling
them apart by start time would leave the breaker stuck half-open, every call refused, should a
probe's measured duration ever overreach.)

Every admitted call must be recorded exactly once. With `enabled=False` every call is admitted
and nothing is counted. The happy path (CLOSED, success) allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mesh.config.policy import STATUS_CODES, BreakerConfig
from mesh.policy.window import SlidingCounts

_CALLS = 0
_FAILURES = 1
_SLOW = 2
_CANCELLED = STATUS_CODES["CANCELLED"]
# Retry hint while half-open probes are in flight: their outcome, not a clock, decides.
HALF_OPEN_RETRY_AFTER_S = 1.0


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Admission:
    """`try_acquire`'s answer. When refused: `retry_after_s` is a hint in seconds, and
    `explanation` completes "circuit for tool T method M ..." (e.g. "is open after 5
    consecutive failures")."""

    allowed: bool
    retry_after_s: float = 0.0
    explanation: str = ""


ADMITTED = Admission(True)

Transition = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """The breaker of one tool method. Not thread-safe: one event loop drives it."""

    __slots__ = (
        "_clock",
        "_config",
        "_consecutive",
        "_failure_codes",
        "_open_for_s",
        "_open_until",
        "_probe_limit",
        "_probes_admitted",
        "_probes_succeeded",
        "_slow_call_s",
        "_slow_rule",
        "_state",
        "_why",
        "_window",
        "on_transition",
    )

    def __init__(
        self,
        config: BreakerConfig,
        clock: Callable[[], float],
        on_transition: Transition | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self.on_transition = on_transition  # called with (old, new) after each change
        self._state = BreakerState.CLOSED
        self._failure_codes = config.failure_codes
        self._slow_call_s = config.slow_call_s
        self._slow_rule = config.slow_call_s is not None and config.slow_call_rate > 0
        self._window = SlidingCounts(config.window_s, counters=3)
        self._consecutive = 0
        self._open_for_s = 0.0
        self._open_until = 0.0
        self._probe_limit = max(1, config.half_open_calls)
        self._probes_admitted = 0
        self._probes_succeeded = 0
        self._why = ""  # what tripped it, e.g. "after 5 consecutive failures"

    @property
    def state(self) -> BreakerState:
        """The current state. OPEN turns HALF_OPEN on the first `try_acquire` after the
        open time, not by itself."""
        return self._state

    @property
    def open_for_s(self) -> float:
        """Length of the current (or last) open period in seconds; 0 until the first trip
        and again after each close."""
        return self._open_for_s

    def try_acquire(self) -> Admission:
        """Whether a call may go to the tool now. An admitted call must be `record`ed."""
        state = self._state
        if state is BreakerState.CLOSED or not self._config.enabled:
            return ADMITTED
        now = self._clock()
        if state is BreakerState.OPEN:
            if now < self._open_until:
                return Admission(False, self._open_until - now, f"is open {self._why}")
            self._probes_admitted = 0
            self._probes_succeeded = 0
            self._move_to(BreakerState.HALF_OPEN)
        if self._probes_admitted < self._probe_limit:
            self._probes_admitted += 1
            return ADMITTED
        probes = self._probes_admitted - self._probes_succeeded
        return Admission(
            False,
            HALF_OPEN_RETRY_AFTER_S,
            f"is half-open {self._why}, with {probes} probe call"
            f"{'' if probes == 1 else 's'} in flight",
        )

    def record(self, success: bool, code: int, duration_s: float) -> None:
        """The outcome of an admitted call: `success` when it ended OK, its gRPC status
        `code`, and `duration_s` seconds since it was admitted."""
        if not self._config.enabled:
            return
        failed = not success and code in self._failure_codes
        if not success and not failed and code == _CANCELLED:
            self._record_neutral()
            return
        slow = self._slow_call_s is not None and duration_s >= self._slow_call_s
        state = self._state
        if state is BreakerState.CLOSED:
            self._record_closed(failed, slow)
        elif state is BreakerState.HALF_OPEN:
            self._record_probe(failed, slow)
        # OPEN: a call admitted before the trip; the breaker has already decided.

    def _record_closed(self, failed: bool, slow: bool) -> None:
        config = self._config
        window = self._window
        window.roll(self._clock())
        window.add(_CALLS)
        if failed:
            window.add(_FAILURES)
            self._consecutive += 1
            if 0 < config.consecutive_failures <= self._consecutive:
                self._trip(f"after {self._consecutive} consecutive failures")
                return
        else:
            self._consecutive = 0
        if slow:
            window.add(_SLOW)
        calls, failures, slow_calls = window.totals
        if calls < config.minimum_calls:
            return
        rate = config.failure_rate
        if rate > 0 and failures and failures >= rate * calls:
            self._trip(
                f"after {failures} of the last {calls} calls failed within "
                f"{config.window_s:g}s ({failures / calls:.0%}, threshold {rate:.0%})"
            )
        elif self._slow_rule and slow_calls and slow_calls >= config.slow_call_rate * calls:
            self._trip(
                f"after {slow_calls} of the last {calls} calls took {config.slow_call_s:g}s "
                f"or longer within {config.window_s:g}s ({slow_calls / calls:.0%}, "
                f"threshold {config.slow_call_rate:.0%})"
            )

    def _record_probe(self, failed: bool, slow: bool) -> None:
        if failed or (slow and self._slow_rule):
            self._trip(self._why)
            return
        self._probes_succeeded += 1
        if self._probes_succeeded >= self._probe_limit:
            self._close()

    def _record_neutral(self) -> None:
        if self._state is BreakerState.HALF_OPEN and self._probes_admitted > self._probes_succeeded:
            # The probe said nothing: let another call probe in its place.
            self._probes_admitted -= 1

    def _trip(self, why: str) -> None:
        config = self._config
        if self._state is BreakerState.HALF_OPEN:
            self._open_for_s = min(
                config.max_open_for_s, self._open_for_s * config.open_for_multiplier
            )
        else:
            self._open_for_s = min(config.max_open_for_s, config.open_for_s)
        self._open_until = self._clock() + self._open_for_s
        self._why = why
        self._consecutive = 0
        self._window.clear()
        self._move_to(BreakerState.OPEN)

    def _close(self) -> None:
        self._consecutive = 0
        self._open_for_s = 0.0
        self._window.clear()
        self._move_to(BreakerState.CLOSED)

    def _move_to(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        if self.on_transition is not None:
            self.on_transition(old, new)
