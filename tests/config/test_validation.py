"""Every rule of a ToolPolicy, each failing with its exact message; all reported at once."""

from __future__ import annotations

import math

import pytest
from google.protobuf import duration_pb2

from mesh.api.v1 import policy_pb2 as pb
from mesh.config import ConfigError, policy_from_proto, policy_problems
from mesh.config.validation import BOUNDS, DURATION_TYPE
from tests.config.policies import policy, seconds

NAME_RULE = (
    "1 to 63 characters: lowercase letters, digits, '-', '_' and '.', "
    "starting with a letter or digit"
)
METHOD_RULE = "a short name such as Summarize, or pkg.Service/Method"

# (label, policy, the one problem it must have)
CASES: list[tuple[str, pb.ToolPolicy, str]] = [
    ("zero timeout", policy(timeout=seconds(0)), "policy.timeout must be > 0 (got 0s)"),
    (
        "negative attempt timeout",
        policy(attempt_timeout=seconds(-1)),
        "policy.attempt_timeout must be > 0 (got -1s)",
    ),
    (
        "malformed duration",
        policy(timeout=duration_pb2.Duration(seconds=1, nanos=-5)),
        "policy.timeout: not a valid duration (seconds 1, nanos -5)",
    ),
    (
        "duration beyond protobuf's range",
        policy(timeout=duration_pb2.Duration(seconds=315_576_000_001)),
        "policy.timeout must be at most 87660000h (got 87660000h1s)",
    ),
    (
        "no attempts",
        policy(retry=pb.RetryPolicy(max_attempts=0)),
        "policy.retry.max_attempts must be between 1 and 10 (got 0)",
    ),
    (
        "too many attempts",
        policy(retry=pb.RetryPolicy(max_attempts=11)),
        "policy.retry.max_attempts must be between 1 and 10 (got 11)",
    ),
    (
        "shrinking backoff",
        policy(retry=pb.RetryPolicy(multiplier=0.5)),
        "policy.retry.multiplier must be >= 1 (got 0.5)",
    ),
    (
        "infinite multiplier",
        policy(retry=pb.RetryPolicy(multiplier=math.inf)),
        "policy.retry.multiplier must be >= 1 (got inf)",
    ),
    (
        "budget ratio above 1",
        policy(retry=pb.RetryPolicy(budget_ratio=1.5)),
        "policy.retry.budget_ratio must be between 0 and 1 (got 1.5)",
    ),
    (
        "budget ratio nan",
        policy(retry=pb.RetryPolicy(budget_ratio=math.nan)),
        "policy.retry.budget_ratio must be between 0 and 1 (got nan)",
    ),
    (
        "zero initial backoff",
        policy(retry=pb.RetryPolicy(initial_backoff=seconds(0))),
        "policy.retry.initial_backoff must be > 0 (got 0s)",
    ),
    (
        "zero budget window",
        policy(retry=pb.RetryPolicy(budget_window=seconds(0))),
        "policy.retry.budget_window must be > 0 (got 0s)",
    ),
    (
        "misspelt code",
        policy(retry=pb.RetryPolicy(retryable_codes=["UNAVAILABLE", "UNAVAILBLE"])),
        "policy.retry.retryable_codes[1]: 'UNAVAILBLE' is not a gRPC status code name "
        "(did you mean UNAVAILABLE?)",
    ),
    (
        "lowercase code",
        policy(retry=pb.RetryPolicy(retryable_codes=["unavailable"])),
        "policy.retry.retryable_codes[0]: 'unavailable' is not a gRPC status code name "
        "(did you mean UNAVAILABLE?)",
    ),
    (
        "unknown code",
        policy(retry=pb.RetryPolicy(retryable_codes=["NOPE"])),
        "policy.retry.retryable_codes[0]: 'NOPE' is not a gRPC status code name",
    ),
    (
        "OK retried",
        policy(retry=pb.RetryPolicy(retryable_codes=["OK"])),
        "policy.retry.retryable_codes[0]: 'OK' is success, not a failure",
    ),
    (
        "max backoff below initial",
        policy(retry=pb.RetryPolicy(initial_backoff=seconds(2), max_backoff=seconds(1))),
        "policy.retry.max_backoff must be >= policy.retry.initial_backoff (got 1s < 2s)",
    ),
    (
        "initial backoff above the default max",
        policy(retry=pb.RetryPolicy(initial_backoff=seconds(5))),
        "policy.retry.max_backoff must be >= policy.retry.initial_backoff "
        "(got 2s (the default) < 5s)",
    ),
    (
        "failure rate above 1",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(failure_rate=2)),
        "policy.circuit_breaker.failure_rate must be between 0 and 1 (got 2)",
    ),
    (
        "negative slow call rate",
        policy(
            circuit_breaker=pb.CircuitBreakerPolicy(
                slow_call_rate=-0.1, slow_call_duration=seconds(1)
            )
        ),
        "policy.circuit_breaker.slow_call_rate must be between 0 and 1 (got -0.1)",
    ),
    (
        "no half-open probes",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(half_open_calls=0)),
        "policy.circuit_breaker.half_open_calls must be >= 1 (got 0)",
    ),
    (
        "shrinking open time",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(open_for_multiplier=0.9)),
        "policy.circuit_breaker.open_for_multiplier must be >= 1 (got 0.9)",
    ),
    (
        "zero breaker window",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(window=seconds(0))),
        "policy.circuit_breaker.window must be > 0 (got 0s)",
    ),
    (
        "bad failure code",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(failure_codes=["INTERNAL", "TIMEOUT"])),
        "policy.circuit_breaker.failure_codes[1]: 'TIMEOUT' is not a gRPC status code name",
    ),
    (
        "max open time below the first",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(open_for=seconds(600))),
        "policy.circuit_breaker.max_open_for must be >= policy.circuit_breaker.open_for "
        "(got 5m (the default) < 10m)",
    ),
    (
        "slow call rate without a slow call duration",
        policy(circuit_breaker=pb.CircuitBreakerPolicy(slow_call_rate=0.5)),
        "policy.circuit_breaker.slow_call_rate needs policy.circuit_breaker.slow_call_duration "
        "(got slow_call_rate 0.5 and no slow_call_duration)",
    ),
    (
        "ejection on no failure",
        policy(outlier_detection=pb.OutlierDetectionPolicy(consecutive_failures=0)),
        "policy.outlier_detection.consecutive_failures must be >= 1 (got 0)",
    ),
    (
        "ejection ratio above 1",
        policy(outlier_detection=pb.OutlierDetectionPolicy(max_ejection_ratio=1.5)),
        "policy.outlier_detection.max_ejection_ratio must be between 0 and 1 (got 1.5)",
    ),
    (
        "negative panic threshold",
        policy(outlier_detection=pb.OutlierDetectionPolicy(panic_threshold=-1)),
        "policy.outlier_detection.panic_threshold must be between 0 and 1 (got -1)",
    ),
    (
        "max ejection below the base",
        policy(
            outlier_detection=pb.OutlierDetectionPolicy(
                base_ejection_time=seconds(60), max_ejection_time=seconds(30)
            )
        ),
        "policy.outlier_detection.max_ejection_time must be >= "
        "policy.outlier_detection.base_ejection_time (got 30s < 1m)",
    ),
    (
        "no hedges",
        policy(hedging=pb.HedgingPolicy(max_hedges=0)),
        "policy.hedging.max_hedges must be between 1 and 3 (got 0)",
    ),
    (
        "too many hedges",
        policy(hedging=pb.HedgingPolicy(max_hedges=4)),
        "policy.hedging.max_hedges must be between 1 and 3 (got 4)",
    ),
    (
        "zero hedge delay",
        policy(hedging=pb.HedgingPolicy(delay=seconds(0))),
        "policy.hedging.delay must be > 0 (got 0s)",
    ),
    (
        "zero adaptive floor",
        policy(hedging=pb.HedgingPolicy(adaptive_floor=seconds(0))),
        "policy.hedging.adaptive_floor must be > 0 (got 0s)",
    ),
    (
        "queue without a limit",
        policy(concurrency_limit=pb.ConcurrencyLimitPolicy(max_queue=5)),
        "policy.concurrency_limit.max_queue needs policy.concurrency_limit.max_in_flight > 0 "
        "(got max_queue 5 with no limit on calls in flight)",
    ),
    (
        "unknown balancing",
        policy(load_balancing=7),
        "policy.load_balancing: 7 is not a load balancing policy "
        "(known: least_request, round_robin, peak_ewma)",
    ),
    (
        "fallback not a tool name",
        policy(fallback="Other Tool"),
        f"policy.fallback: 'Other Tool' is not a valid tool name ({NAME_RULE})",
    ),
    (
        "fallback to itself",
        policy(fallback="echo"),
        "policy.fallback: 'echo' is the tool itself (a fallback must be another tool)",
    ),
    (
        "method key with a space",
        policy(methods={"Sum marize": pb.MethodPolicy()}),
        f"policy.methods: 'Sum marize' is not a method name ({METHOD_RULE})",
    ),
    (
        "method key with a leading slash",
        policy(methods={"/pkg.Service/Method": pb.MethodPolicy()}),
        f"policy.methods: '/pkg.Service/Method' is not a method name ({METHOD_RULE})",
    ),
    (
        "method timeout",
        policy(methods={"Summarize": pb.MethodPolicy(timeout=seconds(0))}),
        "policy.methods.Summarize.timeout must be > 0 (got 0s)",
    ),
    (
        "method attempts",
        policy(methods={"pkg.v1.Svc/Get": pb.MethodPolicy(retry=pb.RetryPolicy(max_attempts=0))}),
        "policy.methods.pkg.v1.Svc/Get.retry.max_attempts must be between 1 and 10 (got 0)",
    ),
    (
        "method fallback to itself",
        policy(methods={"Summarize": pb.MethodPolicy(fallback="echo")}),
        "policy.methods.Summarize.fallback: 'echo' is the tool itself "
        "(a fallback must be another tool)",
    ),
    (
        "method max backoff below the tool's initial backoff",
        policy(
            retry=pb.RetryPolicy(initial_backoff=seconds(1), max_backoff=seconds(8)),
            methods={"Other": pb.MethodPolicy(retry=pb.RetryPolicy(max_backoff=seconds(0.5)))},
        ),
        "policy.methods.Other.retry.max_backoff must be >= "
        "policy.methods.Other.retry.initial_backoff (got 500ms < 1s (the tool's))",
    ),
    (
        "method slow call rate with no duration anywhere",
        policy(
            methods={
                "Summarize": pb.MethodPolicy(
                    circuit_breaker=pb.CircuitBreakerPolicy(slow_call_rate=0.2)
                )
            }
        ),
        "policy.methods.Summarize.circuit_breaker.slow_call_rate needs "
        "policy.methods.Summarize.circuit_breaker.slow_call_duration "
        "(got slow_call_rate 0.2 and no slow_call_duration)",
    ),
]


@pytest.mark.parametrize(("label", "message", "problem"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fails_with_its_message(label: str, message: pb.ToolPolicy, problem: str) -> None:
    assert policy_problems(message, "policy", tool="echo") == [problem], label


@pytest.mark.parametrize(
    "message",
    [
        policy(),
        policy(
            timeout=seconds(5),
            retry=pb.RetryPolicy(
                max_attempts=1, multiplier=1, budget_ratio=0, budget_window=seconds(1)
            ),
            circuit_breaker=pb.CircuitBreakerPolicy(
                enabled=False,
                consecutive_failures=0,
                failure_rate=0,
                slow_call_rate=1,
                slow_call_duration=seconds(2),
                half_open_calls=1,
                failure_codes=["INTERNAL"],
            ),
            outlier_detection=pb.OutlierDetectionPolicy(max_ejection_ratio=1, panic_threshold=0),
            hedging=pb.HedgingPolicy(enabled=True, max_hedges=3, delay=seconds(0.05)),
            concurrency_limit=pb.ConcurrencyLimitPolicy(max_in_flight=8, max_queue=16),
            load_balancing=pb.LOAD_BALANCING_ROUND_ROBIN,
            fallback="other-tool",
            methods={
                "Summarize": pb.MethodPolicy(fallback="", idempotent=True),
                "pkg.v1.Service/Method": pb.MethodPolicy(
                    circuit_breaker=pb.CircuitBreakerPolicy(slow_call_rate=0.1)
                ),
                "Service/Method": pb.MethodPolicy(retry=pb.RetryPolicy(max_backoff=seconds(2))),
            },
        ),
    ],
    ids=["empty", "every edge of every range"],
)
def test_valid_policies_have_no_problem(message: pb.ToolPolicy) -> None:
    assert policy_problems(message, "policy", tool="echo") == []


def test_a_tool_level_problem_is_not_repeated_at_each_method() -> None:
    message = policy(
        retry=pb.RetryPolicy(initial_backoff=seconds(5)),
        methods={"A": pb.MethodPolicy(timeout=seconds(1)), "B": pb.MethodPolicy()},
    )
    assert policy_problems(message, "policy") == [
        "policy.retry.max_backoff must be >= policy.retry.initial_backoff "
        "(got 2s (the default) < 5s)"
    ]


def test_a_methods_own_values_are_checked_against_each_other() -> None:
    message = policy(
        methods={
            "Summarize": pb.MethodPolicy(
                retry=pb.RetryPolicy(initial_backoff=seconds(5), max_backoff=seconds(4))
            )
        }
    )
    assert policy_problems(message, "policy") == [
        "policy.methods.Summarize.retry.max_backoff must be >= "
        "policy.methods.Summarize.retry.initial_backoff (got 4s < 5s)"
    ]


def test_the_fallback_may_name_any_tool_when_the_tool_is_unknown() -> None:
    assert policy_problems(policy(fallback="echo"), "policy") == []


def test_every_problem_is_reported_at_once() -> None:
    message = policy(
        timeout=seconds(0),
        retry=pb.RetryPolicy(max_attempts=0, retryable_codes=["UNAVAILABLE", "UNAVAILBLE"]),
        hedging=pb.HedgingPolicy(max_hedges=9),
        fallback="echo",
        methods={"Summarize": pb.MethodPolicy(timeout=seconds(0))},
    )
    with pytest.raises(ConfigError) as refused:
        policy_from_proto(message, tool="echo")
    assert refused.value.problems == (
        "policy.timeout must be > 0 (got 0s)",
        "policy.retry.max_attempts must be between 1 and 10 (got 0)",
        "policy.retry.retryable_codes[1]: 'UNAVAILBLE' is not a gRPC status code name "
        "(did you mean UNAVAILABLE?)",
        "policy.hedging.max_hedges must be between 1 and 3 (got 9)",
        "policy.fallback: 'echo' is the tool itself (a fallback must be another tool)",
        "policy.methods.Summarize.timeout must be > 0 (got 0s)",
    )
    assert str(refused.value) == "; ".join(refused.value.problems)


def test_the_field_prefix_is_the_callers() -> None:
    message = policy(retry=pb.RetryPolicy(max_attempts=0))
    assert policy_problems(message, "") == ["retry.max_attempts must be between 1 and 10 (got 0)"]
    assert policy_problems(message, "tool.policy") == [
        "tool.policy.retry.max_attempts must be between 1 and 10 (got 0)"
    ]


def test_every_numeric_field_of_the_schema_has_a_range() -> None:
    """A numeric field added to the proto without a range here would go unchecked."""
    descriptors = [pb.RetryPolicy.DESCRIPTOR, pb.CircuitBreakerPolicy.DESCRIPTOR,
                   pb.OutlierDetectionPolicy.DESCRIPTOR, pb.HedgingPolicy.DESCRIPTOR,
                   pb.ConcurrencyLimitPolicy.DESCRIPTOR]  # fmt: skip
    for descriptor in descriptors:
        for field in descriptor.fields:
            if field.message_type is not None:
                assert field.message_type.full_name == DURATION_TYPE, field.full_name
            elif field.type in (field.TYPE_UINT32, field.TYPE_DOUBLE):
                assert field.name in BOUNDS[descriptor.name], field.full_name
            elif field.is_repeated:
                assert field.name.endswith("_codes"), field.full_name  # status code lists
            else:
                assert field.type == field.TYPE_BOOL, field.full_name
