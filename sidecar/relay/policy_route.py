"""Routes with policy: the decision objects of `mesh.policy`, assembled for one tool method.

`ToolRuntime` holds what a tool's routes share (retry budget, outlier detector, balancer,
concurrency limiter, latency tracker, calls in flight per endpoint, one breaker per method);
`PolicyRoute` asks them, in this order, at each decision point of a call:

1. admit: the circuit breaker first (an open circuit fails fast, before the call takes a
   concurrency slot or counts towards the retry budget), then the concurrency limit, then the
   call is counted by the retry budget (retries are a share of calls).
2. pick: outlier ejection narrows the endpoints (never below the panic threshold), then the
   balancer picks among them (least request by default: its in-flight counts are ours).
   Each attempt's end tells the balancer how long it took (peak EWMA learns from it): the
   whole attempt for a unary method answered OK; a lower bound for an attempt that ended
   without its answer (a hedge that lost, a cancelled call, a failure). The committed attempt
   of a streaming method says nothing: it lasts as long as the stream, not a latency.
3. after a failed attempt: a resend the tool provably never saw is free (no budget, no
   attempt counted); otherwise the code must be retryable, the method idempotent, attempts
   left, the tool's pushback not "never", and the budget must pay; the wait is the pushback or
   the jittered backoff. A refused budget ends the call with the tool's own status, marked.
4. hedging (idempotent methods only): after the fixed or adaptive delay, if the budget pays.
5. completed: the breaker records the outcome; successes of methods that hedge adaptively
   feed the tool's latency tracker (their p95).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from mesh.addresses import Address
from mesh.config import ConfigError, policy_from_proto
from mesh.config.policy import DEFAULT_POLICY, BreakerConfig, RoutePolicy, ToolPolicyConfig
from mesh.policy.backoff import NEVER, Backoff, parse_pushback
from mesh.policy.balance import Balancer, make_balancer
from mesh.policy.breaker import CircuitBreaker
from mesh.policy.budget import RetryBudget
from mesh.policy.concurrency import QUEUED as LIMIT_QUEUED
from mesh.policy.concurrency import REJECTED, ConcurrencyLimiter
from mesh.policy.errors import (
    CircuitOpen,
    ConcurrencyLimited,
    MeshDeadlineExceeded,
    MeshError,
    NoHealthyEndpoint,
    RetryBudgetExhausted,
    status_details_header,
)
from mesh.policy.hedge import LatencyTracker, hedge_delay
from mesh.policy.idempotency import method_is_idempotent
from mesh.policy.outlier import OutlierDetector
from mesh.telemetry.metrics import RouteMetrics, ToolMetrics
from sidecar.relay.route import QUEUED, Refusal, Route
from sidecar.relay.status import format_timeout

if TYPE_CHECKING:
    from sidecar.catalog import ToolEntry
    from sidecar.relay.call import Attempt, Call

log = logging.getLogger("toolmesh.policy")

Clock = Callable[[], float]
TRANSPARENT_RESENDS = 3  # resends of attempts the tool provably never saw, per call


def parse_policy(entry: ToolEntry) -> ToolPolicyConfig:
    """The tool's policy; the defaults when it has none or (from an old cache) a bad one."""
    tool = entry.state.tool
    if not tool.HasField("policy"):
        return DEFAULT_POLICY
    try:
        return policy_from_proto(tool.policy, tool=tool.name)
    except ConfigError as error:
        log.warning("tool %r: policy ignored, defaults apply: %s", tool.name, error)
        return DEFAULT_POLICY


class ToolRuntime:
    """A tool's live policy state, shared by the routes of its methods."""

    def __init__(
        self,
        name: str,
        config: ToolPolicyConfig,
        clock: Clock,
        rng: random.Random,
        previous: ToolRuntime | None = None,
        metrics: ToolMetrics | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.rng = rng
        # State survives a policy change wherever the part's own config did not change.
        old = previous.config if previous is not None else None
        retry = config.route.retry
        self.budget: RetryBudget = (
            previous.budget
            if previous is not None and old is not None and old.route.retry == retry
            else RetryBudget.from_config(retry, clock)
        )
        self.outlier: OutlierDetector[Address] = (
            previous.outlier
            if previous is not None and old is not None and old.outlier == config.outlier
            else OutlierDetector(config.outlier, clock)
        )
        self.balancer: Balancer = (
            previous.balancer
            if previous is not None and old is not None and old.balancing == config.balancing
            else make_balancer(config.balancing, rng, clock)
        )
        self.limiter: ConcurrencyLimiter = (
            previous.limiter
            if previous is not None and old is not None and old.concurrency == config.concurrency
            else ConcurrencyLimiter(config.concurrency)
        )
        self.latency: LatencyTracker = (
            previous.latency if previous is not None else LatencyTracker()
        )
        self.in_flight: dict[Address, int] = previous.in_flight if previous is not None else {}
        self._breakers: dict[tuple[str, BreakerConfig], CircuitBreaker] = (
            previous._breakers if previous is not None else {}
        )
        if metrics is not None:
            self.outlier.on_eject = metrics.ejection
            metrics.track_ejected(self.outlier.ejected_now)

    def breaker(self, path: str, config: BreakerConfig, metrics: RouteMetrics) -> CircuitBreaker:
        """The breaker of one method; a changed breaker config starts a fresh one."""
        key = (path, config)
        breaker = self._breakers.get(key)
        if breaker is None:
            for old in [k for k in self._breakers if k[0] == path]:
                del self._breakers[old]
            breaker = CircuitBreaker(config, self.clock, on_transition=metrics.breaker_transition)
            metrics.breaker_state(breaker.state)
            self._breakers[key] = breaker
        return breaker

    def load(self, endpoint: Address) -> int:
        return self.in_flight.get(endpoint, 0)


class PolicyRoute(Route):
    """A tool method's Route, deciding with the tool's policy."""

    __slots__ = ("adaptive_hedging", "backoff", "breaker", "cost", "policy", "runtime", "unary")

    def __init__(
        self,
        entry: ToolEntry,
        service: str,
        method: str,
        runtime: ToolRuntime,
        metrics: RouteMetrics,
    ) -> None:
        super().__init__(entry.name, service, method, entry.endpoints, metrics)
        self.runtime = runtime
        policy: RoutePolicy = runtime.config.for_method(service, method)
        self.policy = policy
        self.timeout_s = policy.timeout_s
        self.timeout_header = (b"grpc-timeout", format_timeout(policy.timeout_s))
        self.attempt_timeout_s = policy.attempt_timeout_s
        self.fallback = policy.fallback
        self.idempotent = _idempotent(entry, service, method, policy.idempotent)
        self.unary = _is_unary(entry, service, method)
        # Only an adaptive hedge delay reads the latency tracker: other methods skip it.
        hedging = policy.hedging
        self.adaptive_hedging = self.idempotent and hedging.enabled and hedging.delay_s is None
        self.breaker = runtime.breaker(f"/{service}/{method}", policy.breaker, metrics)
        tool = entry.state.tool
        self.cost = (tool.cost.amount, tool.cost.unit) if tool.HasField("cost") else None
        self.backoff = Backoff(policy.retry, runtime.rng)

    # 1. admission ------------------------------------------------------------

    def admit(self, call: Call, resume: Callable[[Call], None]) -> Refusal | str | None:
        admission = self.breaker.try_acquire()
        if not admission.allowed:
            return _refusal(
                CircuitOpen(
                    tool=self.tool,
                    method=call.path,
                    explanation=admission.explanation,
                    retry_after_s=admission.retry_after_s,
                )
            )
        call.admitted_at = self.runtime.clock()
        limiter = self.runtime.limiter
        if limiter.limit:
            outcome = limiter.try_acquire(lambda: resume(call))
            if outcome is REJECTED:
                self.breaker.record(False, 1, 0.0)  # CANCELLED: neutral, frees a probe slot
                call.admitted_at = None
                config = self.runtime.config.concurrency
                return _refusal(
                    ConcurrencyLimited(
                        tool=self.tool,
                        method=call.path,
                        max_in_flight=config.max_in_flight,
                        max_queue=config.max_queue,
                    )
                )
            call.holds_slot = True
            if outcome is LIMIT_QUEUED:
                self.runtime.budget.record_call()
                return QUEUED
        self.runtime.budget.record_call()
        return None

    # 2. endpoints ------------------------------------------------------------

    def pick(self, call: Call, avoid: AbstractSet[Address]) -> Address | None:
        runtime = self.runtime
        endpoints: Sequence[Address] = self.endpoints
        if call.unreachable:
            endpoints = [e for e in endpoints if e not in call.unreachable]
            if not endpoints:
                return None
        healthy = runtime.outlier.healthy(endpoints)
        if avoid:
            preferred = [e for e in healthy if e not in avoid]
            healthy = preferred or healthy
        if not healthy:
            return None
        if len(healthy) == 1:
            return healthy[0]
        return runtime.balancer.pick(healthy, runtime.load)

    def attempt_started(self, attempt: Attempt) -> None:
        in_flight = self.runtime.in_flight
        in_flight[attempt.endpoint] = in_flight.get(attempt.endpoint, 0) + 1

    def attempt_ended(self, attempt: Attempt, success: bool, code: int) -> None:
        super().attempt_ended(attempt, success, code)
        in_flight = self.runtime.in_flight
        count = in_flight.get(attempt.endpoint, 0)
        if count > 1:
            in_flight[attempt.endpoint] = count - 1
        else:
            in_flight.pop(attempt.endpoint, None)
        self.runtime.outlier.record(attempt.endpoint, success)
        balancer = self.runtime.balancer
        if not balancer.learns:
            return
        # The attempt's own clock (the relay's time.monotonic), not the policy clock: the
        # balancer only needs the difference, and `started` was read from that clock.
        elapsed = time.monotonic() - attempt.started
        if attempt.call.committed is attempt:
            if self.unary:
                balancer.observe(attempt.endpoint, elapsed, lower_bound=code != 0)
        else:
            balancer.observe(attempt.endpoint, elapsed, lower_bound=True)

    # 3. retries --------------------------------------------------------------

    def retry(
        self, call: Call, code: int, pushback: bytes | None, unprocessed: bool
    ) -> float | Refusal | None:
        if unprocessed:
            # HTTP/2 proved the tool never saw it: resend at once, idempotent or not.
            return 0.0 if call.transparent_resends < TRANSPARENT_RESENDS else None
        retry = self.policy.retry
        if code not in retry.retryable_codes or not self.idempotent:
            return None
        if call.attempts >= retry.max_attempts:
            return None
        wait = parse_pushback(pushback)
        if wait is NEVER:
            return None
        if not self.runtime.budget.try_spend():
            return _refusal(
                RetryBudgetExhausted(
                    tool=self.tool,
                    method=call.path,
                    code=code,
                    upstream_message=call.last_message,
                    attempts=call.attempts,
                )
            )
        if isinstance(wait, float):
            # gRFC A6: after a pushback the backoff schedule starts over.
            call.backoff_from = call.attempts
            return wait
        return self.backoff.delay(call.attempts - call.backoff_from)

    # 4. hedging --------------------------------------------------------------

    def hedge_delay(self, call: Call) -> float | None:
        if not self.idempotent or not self.policy.hedging.enabled:
            return None
        return hedge_delay(self.policy.hedging, self.runtime.latency)

    def hedge_allowed(self, call: Call) -> bool:
        if call.attempts > self.policy.hedging.max_hedges:
            return False
        return self.runtime.budget.try_spend()

    # 5. outcomes -------------------------------------------------------------

    def completed(self, call: Call, code: int, duration_s: float) -> None:
        if call.admitted_at is None:
            return  # refused before admission: the breaker did not count it
        call.admitted_at = None
        self.breaker.record(code == 0, code, duration_s)
        if code == 0 and self.adaptive_hedging:
            self.runtime.latency.record(duration_s)
        if self.cost is not None:
            self.metrics.cost(self.cost[0], self.cost[1], code == 0)

    def released(self, call: Call) -> None:
        if call.holds_slot:
            call.holds_slot = False
            self.runtime.limiter.release()

    def no_endpoint(self, path: str, attempts: int, detail: str) -> Refusal:
        return _refusal(
            NoHealthyEndpoint(
                tool=self.tool,
                method=path,
                endpoints=len(self.endpoints),
                attempts=attempts,
                detail=detail,
            )
        )

    def deadline_refusal(self, call: Call, elapsed_s: float, agent_budget: bool) -> Refusal:
        source = "the agent's deadline" if agent_budget else "the tool's timeout"
        return _refusal(
            MeshDeadlineExceeded(
                tool=self.tool,
                method=call.path,
                timeout_s=elapsed_s,
                source=source,
                attempts=call.attempts,
            )
        )


def _refusal(error: MeshError) -> Refusal:
    return Refusal(error.code, error.message, status_details_header(error), error.reason)


def _idempotent(entry: ToolEntry, service: str, method: str, override: bool | None) -> bool:
    level = None
    try:
        descriptor = entry.pool.FindServiceByName(service).methods_by_name.get(method)
        level = descriptor
    except KeyError:
        pass
    annotations = dict(entry.state.tool.annotations)
    return bool(method_is_idempotent(level, annotations, override, service=service, method=method))


def _is_unary(entry: ToolEntry, service: str, method: str) -> bool:
    """Whether `service/method` is unary (False when the descriptors do not say)."""
    try:
        descriptor = entry.pool.FindServiceByName(service).methods_by_name.get(method)
    except KeyError:
        return False
    if descriptor is None:
        return False
    return not (descriptor.client_streaming or descriptor.server_streaming)


def new_runtime(
    entry: ToolEntry,
    previous: ToolRuntime | None,
    rng: random.Random,
    metrics: ToolMetrics | None = None,
    clock: Clock = time.monotonic,
) -> ToolRuntime:
    """The runtime of `entry`'s current policy, keeping `previous`'s state where it can."""
    config = parse_policy(entry)
    if previous is not None and previous.config == config:
        runtime = previous
    else:
        runtime = ToolRuntime(entry.name, config, clock, rng, previous, metrics)
    # A new catalog may have dropped endpoints: what the balancer learnt of them goes too.
    runtime.balancer.forget(frozenset(entry.endpoints))
    return runtime
