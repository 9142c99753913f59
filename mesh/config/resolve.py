"""A validated `toolmesh.v1.ToolPolicy` turned into the frozen `ToolPolicyConfig`.

Resolution is layered, most specific first: a method's override, then the tool's policy, then
the documented defaults (the dataclass defaults in `mesh.config.policy`). Inside a section
(`retry`, `circuit_breaker`, `hedging`) each field is resolved on its own: a field set in the
override replaces the tool's, an unset field inherits it. "Set" is protobuf presence: an
`optional` scalar or a message that was assigned, a non-empty list of codes, a non-zero enum
or a non-empty tool-level fallback. Durations become float seconds and code names numbers.

The hedge delay has two fields for one value, `delay_s`: `hedging.delay` sets it and
`hedging.adaptive: true` clears it (None: adaptive), so an override's either one replaces what
it inherits; validation keeps a level from setting both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from mesh.api.v1 import policy_pb2
from mesh.config.durations import NANOS_PER_SECOND
from mesh.config.errors import ConfigError
from mesh.config.policy import (
    DEFAULT_TIMEOUT_S,
    STATUS_CODES,
    Balancing,
    BreakerConfig,
    ConcurrencyConfig,
    HedgeConfig,
    OutlierConfig,
    RetryConfig,
    RoutePolicy,
    ToolPolicyConfig,
)
from mesh.config.validation import policy_problems

Config = TypeVar(
    "Config", RetryConfig, BreakerConfig, OutlierConfig, HedgeConfig, ConcurrencyConfig
)

# Each section's protobuf field -> the dataclass attribute it sets.
RETRY_FIELDS: Mapping[str, str] = {
    "max_attempts": "max_attempts",
    "initial_backoff": "initial_backoff_s",
    "max_backoff": "max_backoff_s",
    "multiplier": "multiplier",
    "retryable_codes": "retryable_codes",
    "budget_ratio": "budget_ratio",
    "budget_min_per_second": "budget_min_per_second",
    "budget_window": "budget_window_s",
}
BREAKER_FIELDS: Mapping[str, str] = {
    "enabled": "enabled",
    "consecutive_failures": "consecutive_failures",
    "failure_rate": "failure_rate",
    "window": "window_s",
    "minimum_calls": "minimum_calls",
    "slow_call_duration": "slow_call_s",
    "slow_call_rate": "slow_call_rate",
    "open_for": "open_for_s",
    "open_for_multiplier": "open_for_multiplier",
    "max_open_for": "max_open_for_s",
    "half_open_calls": "half_open_calls",
    "failure_codes": "failure_codes",
}
OUTLIER_FIELDS: Mapping[str, str] = {
    "enabled": "enabled",
    "consecutive_failures": "consecutive_failures",
    "base_ejection_time": "base_ejection_s",
    "max_ejection_time": "max_ejection_s",
    "max_ejection_ratio": "max_ejection_ratio",
    "panic_threshold": "panic_threshold",
}
HEDGING_FIELDS: Mapping[str, str] = {
    "enabled": "enabled",
    "delay": "delay_s",
    "adaptive": "delay_s",  # true: None, the adaptive delay (false is refused by validation)
    "adaptive_floor": "adaptive_floor_s",
    "max_hedges": "max_hedges",
}
_HEDGE_ADAPTIVE = policy_pb2.HedgingPolicy.DESCRIPTOR.fields_by_name["adaptive"].full_name
CONCURRENCY_FIELDS: Mapping[str, str] = {
    "max_in_flight": "max_in_flight",
    "max_queue": "max_queue",
}
BALANCING: Mapping[int, Balancing] = {
    policy_pb2.LOAD_BALANCING_UNSPECIFIED: Balancing.LEAST_REQUEST,
    policy_pb2.LOAD_BALANCING_LEAST_REQUEST: Balancing.LEAST_REQUEST,
    policy_pb2.LOAD_BALANCING_ROUND_ROBIN: Balancing.ROUND_ROBIN,
    policy_pb2.LOAD_BALANCING_PEAK_EWMA: Balancing.PEAK_EWMA,
}


def policy_from_proto(
    policy: policy_pb2.ToolPolicy, *, tool: str | None = None, field: str = "policy"
) -> ToolPolicyConfig:
    """Validates and resolves `policy`; raises ConfigError listing every problem.

    `tool` (the policy's tool, when known) lets a fallback to the tool itself be refused;
    `field` prefixes each problem's path.
    """
    problems = policy_problems(policy, field, tool=tool)
    if problems:
        raise ConfigError(problems)
    route = RoutePolicy(
        timeout_s=_seconds(policy.timeout) if policy.HasField("timeout") else DEFAULT_TIMEOUT_S,
        attempt_timeout_s=_seconds(policy.attempt_timeout)
        if policy.HasField("attempt_timeout")
        else None,
        retry=_overlay(RetryConfig(), _present(policy, "retry"), RETRY_FIELDS),
        breaker=_overlay(BreakerConfig(), _present(policy, "circuit_breaker"), BREAKER_FIELDS),
        hedging=_overlay(HedgeConfig(), _present(policy, "hedging"), HEDGING_FIELDS),
        fallback=policy.fallback,
    )
    methods = {key: _method_route(route, policy.methods[key]) for key in sorted(policy.methods)}
    return ToolPolicyConfig(
        route=route,
        methods=MappingProxyType(methods),
        outlier=_overlay(OutlierConfig(), _present(policy, "outlier_detection"), OUTLIER_FIELDS),
        balancing=BALANCING[policy.load_balancing],
        concurrency=_overlay(
            ConcurrencyConfig(), _present(policy, "concurrency_limit"), CONCURRENCY_FIELDS
        ),
    )


def _method_route(tool: RoutePolicy, method: policy_pb2.MethodPolicy) -> RoutePolicy:
    """The tool's route with the method's set fields laid over it, field by field."""
    return RoutePolicy(
        timeout_s=_seconds(method.timeout) if method.HasField("timeout") else tool.timeout_s,
        attempt_timeout_s=_seconds(method.attempt_timeout)
        if method.HasField("attempt_timeout")
        else tool.attempt_timeout_s,
        retry=_overlay(tool.retry, _present(method, "retry"), RETRY_FIELDS),
        breaker=_overlay(tool.breaker, _present(method, "circuit_breaker"), BREAKER_FIELDS),
        hedging=_overlay(tool.hedging, _present(method, "hedging"), HEDGING_FIELDS),
        fallback=method.fallback if method.HasField("fallback") else tool.fallback,
        idempotent=method.idempotent if method.HasField("idempotent") else None,
    )


def _present(message: Message, name: str) -> Message | None:
    section: Message = getattr(message, name)
    return section if message.HasField(name) else None


def _overlay(base: Config, section: Message | None, fields: Mapping[str, str]) -> Config:
    """`base` with every field set in `section` replaced by its converted value."""
    if section is None:
        return base
    changes: dict[str, Any] = {}  # each value of its attribute's type, by the tables
    for descriptor in section.DESCRIPTOR.fields:
        name = descriptor.name
        value = getattr(section, name)
        if descriptor.is_repeated:
            if value:
                changes[fields[name]] = frozenset(STATUS_CODES[code] for code in value)
            continue
        if not section.HasField(name):
            continue
        if descriptor.full_name == _HEDGE_ADAPTIVE:
            changes[fields[name]] = None  # no fixed delay, whatever the level below set
        elif isinstance(value, Duration):
            changes[fields[name]] = _seconds(value)
        else:
            changes[fields[name]] = value
    return dataclasses.replace(base, **changes)


def _seconds(duration: Duration) -> float:
    return duration.ToNanoseconds() / NANOS_PER_SECOND
