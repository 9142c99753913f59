"""Where a call goes and what policy decides on its way: the relay's one seam with policy.

The relay moves frames and runs a call's attempts; at each decision point it asks the call's
Route: may the call start (concurrency limit, circuit breaker), which endpoint takes the next
attempt (outlier ejection, balancing), whether and when a failed attempt is tried again
(idempotency, retry budget, backoff, pushback), when to hedge, and what to record when the
call ends. `PlainRoute` answers without any policy (the sidecar's own services use it);
policy routes are built in `sidecar.relay.policy_route`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from time import monotonic
from typing import TYPE_CHECKING

from mesh.addresses import Address
from mesh.telemetry.metrics import RouteMetrics

if TYPE_CHECKING:
    from sidecar.relay.call import Attempt, Call

QUEUED = "queued"  # admit(): the call waits for a concurrency slot; `resume` starts it


class Refusal:
    """A mesh-made error for the agent: a gRPC code, a message, and the details trailer."""

    __slots__ = ("code", "details", "message", "reason")

    def __init__(self, code: int, message: str, details: bytes = b"", reason: str = "") -> None:
        self.code = code
        self.message = message
        self.details = details  # value of grpc-status-details-bin (base64), or empty
        self.reason = reason  # the ErrorInfo reason (CIRCUIT_OPEN...), for metrics


class Route:
    """The decisions for calls of one method of one tool. Subclasses add policy."""

    __slots__ = (
        "_next",
        "attempt_timeout_s",
        "endpoints",
        "fallback",
        "idempotent",
        "method",
        "metrics",
        "service",
        "timeout_header",
        "timeout_s",
        "tool",
    )

    def __init__(
        self,
        tool: str,
        service: str,
        method: str,
        endpoints: tuple[Address, ...],
        metrics: RouteMetrics,
    ) -> None:
        self.tool = tool
        self.service = service
        self.method = method
        self.endpoints = endpoints
        self.timeout_s: float | None = None  # total budget; None: only the agent's deadline
        self.timeout_header = (b"grpc-timeout", b"")  # `timeout_s` as the header, when set
        self.attempt_timeout_s: float | None = None  # budget of each attempt; None: the total
        self.idempotent = False
        self.fallback = ""  # a tool to call when this one fails or its breaker is open
        self.metrics = metrics
        self._next = -1

    def admit(self, call: Call, resume: Callable[[Call], None]) -> Refusal | str | None:
        """None to start now, QUEUED when `resume(call)` will start it later, or a Refusal."""
        return None

    def pick(self, call: Call, avoid: AbstractSet[Address]) -> Address | None:
        """The endpoint of the next attempt: never one in `call.unreachable`, preferably
        none in `avoid`; None when no endpoint is left."""
        if avoid or call.unreachable:
            usable = [e for e in self.endpoints if e not in call.unreachable]
            candidates: Sequence[Address] = [e for e in usable if e not in avoid] or usable
        else:
            candidates = self.endpoints
        if not candidates:
            return None
        self._next += 1  # round robin
        return candidates[self._next % len(candidates)]

    def attempt_started(self, attempt: Attempt) -> None:
        """An attempt is about to be sent."""

    def attempt_ended(self, attempt: Attempt, success: bool, code: int) -> None:
        """An attempt ended with `code`: `success` False when it failed in a way that counts
        against its endpoint (connection errors, failure codes)."""
        now = monotonic()
        span = attempt.span
        trace_id = None
        if span is not None:
            span.end(code, now)
            trace_id = span.call.trace_id_hex
        self.metrics.attempt(attempt.endpoint, code, now - attempt.started, trace_id)

    def retry(
        self, call: Call, code: int, pushback: bytes | None, unprocessed: bool
    ) -> float | Refusal | None:
        """After a failed attempt: seconds to wait before the next one, a Refusal that ends
        the call, or None to end it with the tool's own status. `unprocessed`: HTTP/2
        proved the tool never saw the request."""
        return 0.0 if unprocessed and call.transparent_resends < 3 else None

    def hedge_delay(self, call: Call) -> float | None:
        """Seconds after an attempt starts before a hedge is sent, or None: no hedging."""
        return None

    def hedge_allowed(self, call: Call) -> bool:
        """The hedge delay passed: may another attempt go out now (budget, max hedges)?"""
        return False

    def completed(self, call: Call, code: int, duration_s: float) -> None:
        """The call ended with `code` after `duration_s` (the agent's view)."""

    def released(self, call: Call) -> None:
        """The call left the sidecar (any way): give back what `admit` took."""

    def no_endpoint(self, path: str, attempts: int, detail: str) -> Refusal:
        """The error of a call no endpoint can take; `detail` says what each one did."""
        what = detail or "it has no registered or live endpoint"
        message = f"tool {self.tool!r} has no healthy endpoint for method {path}: {what}"
        return Refusal(14, message, reason="NO_HEALTHY_ENDPOINT")

    def deadline_refusal(self, call: Call, elapsed_s: float, agent_budget: bool) -> Refusal:
        """The error of a call whose deadline passed in the sidecar."""
        source = "the agent's deadline" if agent_budget else "the tool's timeout"
        return Refusal(
            4,  # DEADLINE_EXCEEDED
            f"call to tool {self.tool!r} method {call.path} ran out of time after"
            f" {elapsed_s:.3f}s: {source} has passed",
            reason="DEADLINE_EXCEEDED",
        )
