"""Resolution into ToolPolicyConfig: defaults, units, and per-method overrides merged field by
field (set replaces, unset inherits)."""

from __future__ import annotations

import dataclasses

import pytest

from mesh.api.v1 import policy_pb2 as pb
from mesh.config import ConfigError, load_policy_yaml, policy_from_proto
from mesh.config.policy import (
    DEFAULT_POLICY,
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
from mesh.config.resolve import (
    BALANCING,
    BREAKER_FIELDS,
    CONCURRENCY_FIELDS,
    HEDGING_FIELDS,
    OUTLIER_FIELDS,
    RETRY_FIELDS,
)
from tests.config.policies import seconds


def resolve(text: str) -> ToolPolicyConfig:
    return policy_from_proto(load_policy_yaml(text, where="p.yaml"))


def test_nothing_set_is_the_documented_defaults() -> None:
    config = policy_from_proto(pb.ToolPolicy())
    assert config == DEFAULT_POLICY
    assert config.route.timeout_s == 30.0
    assert config.route.retry.max_attempts == 3
    assert config.route.retry.retryable_codes == {STATUS_CODES["UNAVAILABLE"]}
    assert (config.route.retry.budget_ratio, config.route.retry.budget_min_per_second) == (0.2, 10)
    assert config.route.breaker.enabled
    assert (config.route.breaker.consecutive_failures, config.route.breaker.failure_rate) == (
        5,
        0.5,
    )
    assert (config.route.breaker.window_s, config.route.breaker.minimum_calls) == (10.0, 20)
    assert config.outlier.enabled
    assert config.balancing is Balancing.LEAST_REQUEST
    assert not config.route.hedging.enabled


def test_a_section_replaces_only_the_fields_it_sets() -> None:
    config = resolve("retry: {max_attempts: 5, initial_backoff: 250ms}\n")
    assert config.route.retry == RetryConfig(max_attempts=5, initial_backoff_s=0.25)


def test_units_are_seconds_and_code_numbers() -> None:
    config = resolve(
        "timeout: 1m30s\nattempt_timeout: 1500ms\n"
        "circuit_breaker: {failure_codes: [INTERNAL, DEADLINE_EXCEEDED], slow_call_duration: 2s,"
        " slow_call_rate: 0.5}\n"
    )
    assert (config.route.timeout_s, config.route.attempt_timeout_s) == (90.0, 1.5)
    assert config.route.breaker.failure_codes == frozenset({13, 4})
    assert config.route.breaker.slow_call_s == 2.0


def test_a_method_override_merges_field_by_field() -> None:
    config = resolve(
        """
        timeout: 5s
        attempt_timeout: 1s
        retry: {max_attempts: 4, initial_backoff: 200ms, retryable_codes: [UNAVAILABLE, ABORTED]}
        circuit_breaker: {consecutive_failures: 7, open_for: 20s}
        hedging: {enabled: true, delay: 40ms}
        fallback: backup
        methods:
          Summarize:
            timeout: 30s
            retry: {max_attempts: 1}
            circuit_breaker: {open_for: 1m}
            hedging: {max_hedges: 2}
          Classify:
            retry: {retryable_codes: [RESOURCE_EXHAUSTED]}
            fallback: ""
            idempotent: true
        """
    )
    tool = config.route
    summarize = config.methods["Summarize"]
    assert summarize == dataclasses.replace(
        tool,
        timeout_s=30.0,
        retry=dataclasses.replace(tool.retry, max_attempts=1),
        breaker=dataclasses.replace(tool.breaker, open_for_s=60.0),
        hedging=dataclasses.replace(tool.hedging, max_hedges=2),
    )
    assert summarize.retry.initial_backoff_s == 0.2  # the tool's, not the default
    assert summarize.breaker.consecutive_failures == 7
    assert summarize.hedging.delay_s == 0.04
    assert summarize.fallback == "backup"
    assert summarize.idempotent is None  # the method's descriptor options decide
    classify = config.methods["Classify"]
    assert classify.retry.retryable_codes == {STATUS_CODES["RESOURCE_EXHAUSTED"]}  # replaced
    assert classify.retry.max_attempts == 4
    assert classify.fallback == ""  # set empty: no fallback for this method
    assert classify.idempotent is True
    assert (classify.timeout_s, classify.attempt_timeout_s) == (5.0, 1.0)


def test_an_empty_override_is_the_tools_policy() -> None:
    config = resolve("timeout: 2s\nretry: {max_attempts: 2}\nmethods: {Get: {}}\n")
    assert config.methods["Get"] == config.route


def test_the_full_method_name_wins_over_the_short_one() -> None:
    config = resolve("methods:\n  Get: {timeout: 1s}\n  pkg.v1.Store/Get: {timeout: 2s}\n")
    assert config.for_method("pkg.v1.Store", "Get").timeout_s == 2.0
    assert config.for_method("pkg.v1.Other", "Get").timeout_s == 1.0
    assert config.for_method("pkg.v1.Store", "Put").timeout_s == 30.0


def test_tool_wide_sections() -> None:
    config = resolve(
        "load_balancing: round_robin\n"
        "outlier_detection: {enabled: false, max_ejection_ratio: 0.25}\n"
        "concurrency_limit: {max_in_flight: 10, max_queue: 5}\n"
    )
    assert config.balancing is Balancing.ROUND_ROBIN
    assert config.outlier == OutlierConfig(enabled=False, max_ejection_ratio=0.25)
    assert config.concurrency == ConcurrencyConfig(max_in_flight=10, max_queue=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (pb.LOAD_BALANCING_UNSPECIFIED, Balancing.LEAST_REQUEST),
        (pb.LOAD_BALANCING_LEAST_REQUEST, Balancing.LEAST_REQUEST),
        (pb.LOAD_BALANCING_ROUND_ROBIN, Balancing.ROUND_ROBIN),
        (pb.LOAD_BALANCING_PEAK_EWMA, Balancing.PEAK_EWMA),
    ],
)
def test_every_load_balancing_value_maps_to_a_balancing(
    value: pb.LoadBalancing, expected: Balancing
) -> None:
    assert policy_from_proto(pb.ToolPolicy(load_balancing=value)).balancing is expected


def test_every_load_balancing_value_is_mapped() -> None:
    assert set(BALANCING) == set(pb.LoadBalancing.values())


def test_peak_ewma_from_yaml() -> None:
    assert resolve("load_balancing: peak_ewma\n").balancing is Balancing.PEAK_EWMA


def test_an_invalid_policy_does_not_resolve() -> None:
    with pytest.raises(ConfigError) as refused:
        policy_from_proto(pb.ToolPolicy(timeout=seconds(0)), field="")
    assert refused.value.problems == ("timeout must be > 0 (got 0s)",)


@pytest.mark.parametrize(
    ("message", "fields", "config"),
    [
        (pb.RetryPolicy, RETRY_FIELDS, RetryConfig),
        (pb.CircuitBreakerPolicy, BREAKER_FIELDS, BreakerConfig),
        (pb.OutlierDetectionPolicy, OUTLIER_FIELDS, OutlierConfig),
        (pb.HedgingPolicy, HEDGING_FIELDS, HedgeConfig),
        (pb.ConcurrencyLimitPolicy, CONCURRENCY_FIELDS, ConcurrencyConfig),
    ],
)
def test_every_proto_field_lands_in_a_config_attribute(
    message: type, fields: dict[str, str], config: type
) -> None:
    proto_names = {field.name for field in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]
    attributes = {field.name for field in dataclasses.fields(config)}
    assert set(fields) == proto_names
    assert set(fields.values()) == attributes


def test_route_fields_cover_the_method_override() -> None:
    overridable = {field.name for field in pb.MethodPolicy.DESCRIPTOR.fields}
    route = {field.name for field in dataclasses.fields(RoutePolicy)}
    renamed = {"timeout": "timeout_s", "attempt_timeout": "attempt_timeout_s",
               "circuit_breaker": "breaker"}  # fmt: skip
    assert {renamed.get(name, name) for name in overridable} == route
