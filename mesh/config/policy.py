"""The validated, immutable form of a tool's policy. Defaults here are the documented ones
(see proto/toolmesh/v1/policy.proto); durations are float seconds, status codes are the
numeric gRPC codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

# gRPC status codes by name, the form users write in YAML.
STATUS_CODES: Mapping[str, int] = MappingProxyType(
    {
        "OK": 0,
        "CANCELLED": 1,
        "UNKNOWN": 2,
        "INVALID_ARGUMENT": 3,
        "DEADLINE_EXCEEDED": 4,
        "NOT_FOUND": 5,
        "ALREADY_EXISTS": 6,
        "PERMISSION_DENIED": 7,
        "RESOURCE_EXHAUSTED": 8,
        "FAILED_PRECONDITION": 9,
        "ABORTED": 10,
        "OUT_OF_RANGE": 11,
        "UNIMPLEMENTED": 12,
        "INTERNAL": 13,
        "UNAVAILABLE": 14,
        "DATA_LOSS": 15,
        "UNAUTHENTICATED": 16,
    }
)

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    max_attempts: int = 3  # the first attempt included; 1 disables retries
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    retryable_codes: frozenset[int] = frozenset({STATUS_CODES["UNAVAILABLE"]})
    budget_ratio: float = 0.2  # retries and hedges <= ratio x calls in the window + floor
    budget_min_per_second: int = 10
    budget_window_s: float = 10.0


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    enabled: bool = True
    consecutive_failures: int = 5  # 0: rule off
    failure_rate: float = 0.5  # 0: rule off
    window_s: float = 10.0
    minimum_calls: int = 20
    slow_call_s: float | None = None  # None: slowness ignored
    slow_call_rate: float = 0.0  # 0: rule off
    open_for_s: float = 10.0
    open_for_multiplier: float = 2.0
    max_open_for_s: float = 300.0
    half_open_calls: int = 1
    failure_codes: frozenset[int] = frozenset(
        STATUS_CODES[name]
        for name in (
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "INTERNAL",
            "UNKNOWN",
            "RESOURCE_EXHAUSTED",
        )
    )


@dataclass(frozen=True, slots=True)
class OutlierConfig:
    enabled: bool = True
    consecutive_failures: int = 5
    base_ejection_s: float = 10.0  # each further ejection of an endpoint adds as much
    max_ejection_s: float = 300.0
    max_ejection_ratio: float = 0.5
    panic_threshold: float = 0.5  # below this healthy share, every endpoint is used


class Balancing(Enum):
    LEAST_REQUEST = "least_request"  # power of two random choices
    ROUND_ROBIN = "round_robin"
    PEAK_EWMA = "peak_ewma"  # power of two random choices by latency estimate x load


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    enabled: bool = False
    delay_s: float | None = None  # None: adaptive, the tool's live p95
    adaptive_floor_s: float = 0.01
    max_hedges: int = 1


@dataclass(frozen=True, slots=True)
class ConcurrencyConfig:
    max_in_flight: int = 0  # 0: unlimited
    max_queue: int = 0


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Everything that applies to the calls of one method (tool defaults + its override)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    attempt_timeout_s: float | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    hedging: HedgeConfig = field(default_factory=HedgeConfig)
    fallback: str = ""
    idempotent: bool | None = None  # None: the method's idempotency_level / annotations decide


@dataclass(frozen=True, slots=True)
class ToolPolicyConfig:
    """A tool's whole policy, validated. `methods` holds fully merged per-method policies,
    keyed as written (`Summarize` or `pkg.Service/Method`)."""

    route: RoutePolicy = field(default_factory=RoutePolicy)
    methods: Mapping[str, RoutePolicy] = field(default_factory=lambda: MappingProxyType({}))
    outlier: OutlierConfig = field(default_factory=OutlierConfig)
    balancing: Balancing = Balancing.LEAST_REQUEST
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)

    def for_method(self, service: str, method: str) -> RoutePolicy:
        """The policy of `service/method`: its full-name override, else its short-name
        override, else the tool's."""
        methods = self.methods
        if methods:
            found = methods.get(f"{service}/{method}") or methods.get(method)
            if found is not None:
                return found
        return self.route


DEFAULT_POLICY = ToolPolicyConfig()
