"""The YAML form: the issue's example as written, every shape problem named, and a round trip
YAML -> proto -> YAML that loses nothing."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
import yaml
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.api.v1 import policy_pb2 as pb
from mesh.config import (
    ConfigError,
    load_policy_yaml,
    policy_from_mapping,
    policy_from_proto,
    policy_to_yaml,
    proto_from_mapping,
)
from mesh.config.policy import (
    STATUS_CODES,
    BreakerConfig,
    RetryConfig,
    RoutePolicy,
    ToolPolicyConfig,
)
from tests.config.policies import ISSUE_EXAMPLE, seconds

RETRY_KEYS = (
    "max_attempts, initial_backoff, max_backoff, multiplier, retryable_codes, budget_ratio, "
    "budget_min_per_second, budget_window"
)
BREAKER_KEYS = (
    "enabled, consecutive_failures, failure_rate, window, minimum_calls, slow_call_duration, "
    "slow_call_rate, open_for, open_for_multiplier, max_open_for, half_open_calls, failure_codes"
)
POLICY_KEYS = (
    "timeout, attempt_timeout, retry, circuit_breaker, outlier_detection, load_balancing, "
    "hedging, fallback, concurrency_limit, methods"
)


def problems_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load_policy_yaml(text, **({"where": "p.yaml"} | kwargs))
    return list(refused.value.problems)


# -- the issue's example ---------------------------------------------------------------------


def test_the_issues_example_loads_as_written() -> None:
    tool_retry = RetryConfig(
        max_attempts=3, initial_backoff_s=1.0, max_backoff_s=4.0, multiplier=2.0,
        retryable_codes=frozenset({STATUS_CODES["UNAVAILABLE"]}),
    )  # fmt: skip
    breaker = BreakerConfig(consecutive_failures=5, open_for_s=60.0, half_open_calls=1)
    tool_route = RoutePolicy(
        timeout_s=5.0, retry=tool_retry, breaker=breaker, fallback="other-tool"
    )
    summarize = RoutePolicy(
        timeout_s=30.0,
        retry=RetryConfig(
            max_attempts=1,
            initial_backoff_s=1.0,
            max_backoff_s=4.0,
            multiplier=2.0,
            retryable_codes=frozenset({STATUS_CODES["UNAVAILABLE"]}),
        ),
        breaker=breaker,
        fallback="other-tool",
    )
    config = policy_from_proto(load_policy_yaml(ISSUE_EXAMPLE, where="p.yaml"), tool="summarizer")
    assert config == ToolPolicyConfig(
        route=tool_route, methods=MappingProxyType({"Summarize": summarize})
    )
    assert config.for_method("pkg.v1.Summarizer", "Summarize") == summarize
    assert config.for_method("pkg.v1.Summarizer", "Other") == tool_route


def test_the_issues_example_maps_onto_the_proto_field_for_field() -> None:
    expected = pb.ToolPolicy(
        timeout=seconds(5),
        retry=pb.RetryPolicy(
            max_attempts=3,
            initial_backoff=seconds(1),
            max_backoff=seconds(4),
            multiplier=2,
            retryable_codes=["UNAVAILABLE"],
        ),
        circuit_breaker=pb.CircuitBreakerPolicy(
            consecutive_failures=5, open_for=seconds(60), half_open_calls=1
        ),
        fallback="other-tool",
        methods={
            "Summarize": pb.MethodPolicy(timeout=seconds(30), retry=pb.RetryPolicy(max_attempts=1))
        },
    )
    assert load_policy_yaml(ISSUE_EXAMPLE, where="p.yaml") == expected


def test_every_key_and_spelling_of_the_schema_loads() -> None:
    text = """
        timeout: 1m30s
        attempt_timeout: 250ms
        retry: {budget_ratio: 0.1, budget_min_per_second: 5, budget_window: 30s}
        circuit_breaker:
          enabled: false
          failure_rate: 0.25
          window: 1m
          minimum_calls: 50
          slow_call_duration: 2s
          slow_call_rate: 0.5
          open_for_multiplier: 1.5
          max_open_for: 1h
          failure_codes: [UNAVAILABLE, INTERNAL]
        outlier_detection: {enabled: true, consecutive_failures: 3, base_ejection_time: 5s,
                            max_ejection_time: 2m, max_ejection_ratio: 0.3, panic_threshold: 0.2}
        load_balancing: round_robin
        hedging: {enabled: true, delay: 50ms, adaptive_floor: 20ms, max_hedges: 2}
        concurrency_limit: {max_in_flight: 64, max_queue: 128}
        methods:
          pkg.v1.Reports/Generate: {idempotent: false, fallback: "", attempt_timeout: 10s,
                                    hedging: {enabled: false}, circuit_breaker: {open_for: 1s}}
    """
    config = policy_from_proto(load_policy_yaml(text, where="p.yaml"))
    assert config.route.timeout_s == 90.0
    assert config.route.attempt_timeout_s == 0.25
    assert config.route.retry.budget_window_s == 30.0
    assert config.route.breaker.failure_codes == frozenset({14, 13})
    assert config.route.breaker.slow_call_s == 2.0
    assert config.outlier.max_ejection_s == 120.0
    assert config.balancing.value == "round_robin"
    assert config.route.hedging.delay_s == 0.05
    assert config.concurrency.max_queue == 128
    generate = config.methods["pkg.v1.Reports/Generate"]
    assert (generate.idempotent, generate.fallback, generate.attempt_timeout_s) == (False, "", 10.0)
    assert generate.hedging.enabled is False
    assert generate.hedging.delay_s == 0.05  # inherited field by field
    assert generate.breaker.open_for_s == 1.0
    assert generate.breaker.window_s == 60.0


def test_an_empty_document_is_the_empty_policy() -> None:
    assert load_policy_yaml("", where="p.yaml") == pb.ToolPolicy()
    assert load_policy_yaml("# nothing set\n", where="p.yaml") == pb.ToolPolicy()


# -- shape problems --------------------------------------------------------------------------

SHAPE_CASES = [
    ("retries: 3", f"p.yaml: retries: unknown key (known: {POLICY_KEYS})"),
    (
        "circuit_breaker: {open_fro: 60s}",
        f"p.yaml: circuit_breaker.open_fro: unknown key (known: {BREAKER_KEYS})",
    ),
    ("retry: {max_atempts: 3}", f"p.yaml: retry.max_atempts: unknown key (known: {RETRY_KEYS})"),
    ("timeout: 5", "p.yaml: timeout must be a duration with a unit, e.g. 250ms, 2s, 1m30s (got 5)"),
    (
        "timeout: 2 seconds",
        "p.yaml: timeout: '2 seconds' is not a duration (e.g. 250ms, 2s, 1m30s)",
    ),
    ("timeout:", "p.yaml: timeout: no value (leave the key out to get its default)"),
    ("retry: 3", "p.yaml: retry must be a mapping of its fields (got 3)"),
    (
        "retry: {max_attempts: three}",
        "p.yaml: retry.max_attempts must be a whole number (got 'three')",
    ),
    ("retry: {max_attempts: 2.5}", "p.yaml: retry.max_attempts must be a whole number (got 2.5)"),
    ("retry: {max_attempts: true}", "p.yaml: retry.max_attempts must be a whole number (got True)"),
    ("retry: {max_attempts: -1}", "p.yaml: retry.max_attempts must be between 1 and 10 (got -1)"),
    (
        "concurrency_limit: {max_in_flight: -1}",
        "p.yaml: concurrency_limit.max_in_flight must be >= 0 (got -1)",
    ),
    (
        "concurrency_limit: {max_in_flight: 4294967296}",
        "p.yaml: concurrency_limit.max_in_flight must be at most 4294967295 (got 4294967296)",
    ),
    ("retry: {multiplier: twice}", "p.yaml: retry.multiplier must be a number (got 'twice')"),
    (
        "hedging: {enabled: yes please}",
        "p.yaml: hedging.enabled must be true or false (got 'yes please')",
    ),
    ("fallback: 42", "p.yaml: fallback must be text (got 42)"),
    (
        "load_balancing: random",
        "p.yaml: load_balancing: 'random' is not a load balancing policy "
        "(known: least_request, round_robin, peak_ewma)",
    ),
    (
        "retry: {retryable_codes: UNAVAILABLE}",
        "p.yaml: retry.retryable_codes must be a list of status code names, e.g. [UNAVAILABLE]",
    ),
    (
        "retry: {retryable_codes: []}",
        "p.yaml: retry.retryable_codes: an empty list would mean the default; "
        "list at least one status code name",
    ),
    (
        "retry: {retryable_codes: [14, UNAVAILBLE]}",
        "p.yaml: retry.retryable_codes[0]: must be a status code name (got 14)",
    ),
    (
        "methods: [Summarize]",
        "p.yaml: methods must be a mapping of method name to override, "
        "e.g. {Summarize: {timeout: 30s}} (got ['Summarize'])",
    ),
    (
        "methods: {1: {timeout: 1s}}",
        "p.yaml: methods: 1 is not a method name "
        "(a short name such as Summarize, or pkg.Service/Method)",
    ),
    (
        "methods: {Summarize: }",
        "p.yaml: methods.Summarize: no value (an override is a mapping, e.g. {timeout: 30s})",
    ),
    (
        "methods: {Summarize: 30s}",
        "p.yaml: methods.Summarize must be a mapping of its fields (got '30s')",
    ),
    (
        "methods: {Summarize: {load_balancing: round_robin}}",
        "p.yaml: methods.Summarize.load_balancing: unknown key (known: timeout, "
        "attempt_timeout, retry, circuit_breaker, hedging, fallback, idempotent)",
    ),
    ("- timeout: 1s", "p.yaml: a policy must be a mapping (e.g. `timeout: 2s`), got a list"),
]


@pytest.mark.parametrize(("text", "problem"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_shape_problems_name_the_key_and_value(text: str, problem: str) -> None:
    assert problems_of(text)[0] == problem


def test_a_code_list_with_a_bad_item_reports_every_item_by_its_index() -> None:
    assert problems_of("retry: {retryable_codes: [14, UNAVAILBLE, UNAVAILABLE]}") == [
        "p.yaml: retry.retryable_codes[0]: must be a status code name (got 14)",
        "p.yaml: retry.retryable_codes[1]: 'UNAVAILBLE' is not a gRPC status code name "
        "(did you mean UNAVAILABLE?)",
    ]


def test_a_key_written_twice_is_refused() -> None:
    [problem] = problems_of("timeout: 1s\nretry: {}\ntimeout: 2s\n")
    assert problem.startswith("p.yaml: not valid YAML: while reading a mapping")
    assert "found the key 'timeout' twice" in problem
    assert "line 3" in problem


def test_broken_yaml_is_one_problem_naming_the_file() -> None:
    [problem] = problems_of("timeout: [2s\n")
    assert problem.startswith("p.yaml: not valid YAML: ")


def test_shape_and_range_problems_are_reported_together() -> None:
    text = "timeout: 0s\nretry: {max_attempts: 0, multiplier: twice}\nhedge: 1\n"
    assert problems_of(text) == [
        "p.yaml: retry.multiplier must be a number (got 'twice')",
        f"p.yaml: hedge: unknown key (known: {POLICY_KEYS})",
        "p.yaml: timeout must be > 0 (got 0s)",
        "p.yaml: retry.max_attempts must be between 1 and 10 (got 0)",
    ]


def test_inside_a_manifest_the_paths_start_at_its_policy_key() -> None:
    with pytest.raises(ConfigError) as refused:
        policy_from_mapping(
            {"timeout": "0s", "fallback": "echo"}, where="echo.yaml", field="policy", tool="echo"
        )
    assert refused.value.problems == (
        "echo.yaml: policy.timeout must be > 0 (got 0s)",
        "echo.yaml: policy.fallback: 'echo' is the tool itself (a fallback must be another tool)",
    )
    with pytest.raises(ConfigError) as not_a_mapping:
        policy_from_mapping("5s", where="echo.yaml", field="policy")
    assert not_a_mapping.value.problems == (
        "echo.yaml: policy must be a mapping (e.g. `timeout: 2s`), got str '5s'",
    )


# -- writing, and the round trip --------------------------------------------------------------


def test_the_example_is_written_back_in_the_same_form() -> None:
    written = policy_to_yaml(load_policy_yaml(ISSUE_EXAMPLE, where="p.yaml"))
    assert yaml.safe_load(written) == {
        "timeout": "5s",
        "retry": {
            "max_attempts": 3,
            "initial_backoff": "1s",
            "max_backoff": "4s",
            "multiplier": 2.0,
            "retryable_codes": ["UNAVAILABLE"],
        },
        "circuit_breaker": {"consecutive_failures": 5, "open_for": "1m", "half_open_calls": 1},
        "fallback": "other-tool",
        "methods": {"Summarize": {"timeout": "30s", "retry": {"max_attempts": 1}}},
    }
    assert load_policy_yaml(written, where="written") == load_policy_yaml(ISSUE_EXAMPLE, where="p")


def test_the_empty_policy_is_written_as_an_empty_mapping() -> None:
    assert policy_to_yaml(pb.ToolPolicy()) == "{}\n"
    assert load_policy_yaml("{}\n", where="p.yaml") == pb.ToolPolicy()


def test_a_section_set_empty_stays_set() -> None:
    message = load_policy_yaml("retry: {}\n", where="p.yaml")
    assert message.HasField("retry")
    assert policy_to_yaml(message) == "retry: {}\n"


def test_every_load_balancing_name_reads_and_writes_back() -> None:
    for name, value in (
        ("least_request", pb.LOAD_BALANCING_LEAST_REQUEST),
        ("round_robin", pb.LOAD_BALANCING_ROUND_ROBIN),
        ("peak_ewma", pb.LOAD_BALANCING_PEAK_EWMA),
    ):
        message = load_policy_yaml(f"load_balancing: {name}\n", where="p.yaml")
        assert message.load_balancing == value
        assert policy_to_yaml(message) == f"load_balancing: {name}\n"


def test_enum_and_optional_values_are_written_by_name() -> None:
    message = pb.ToolPolicy(
        load_balancing=pb.LOAD_BALANCING_ROUND_ROBIN,
        methods={"Get": pb.MethodPolicy(idempotent=False, fallback="")},
    )
    assert yaml.safe_load(policy_to_yaml(message)) == {
        "load_balancing": "round_robin",
        "methods": {"Get": {"fallback": "", "idempotent": False}},
    }


_IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_METHOD_KEYS = _IDENTIFIER | st.builds(lambda s, m: f"pkg.{s}/{m}", _IDENTIFIER, _IDENTIFIER)


@st.composite
def messages(draw: st.DrawFn, descriptor: Any, depth: int = 0) -> Message:
    """Any message of the policy schema whose values YAML can express (durations >= 0,
    finite numbers), each field set or not."""
    message: Message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        _set_any(draw, message, field, depth)
    return message


def _set_any(draw: st.DrawFn, message: Message, field: FieldDescriptor, depth: int) -> None:
    name = field.name
    kind = field.message_type
    if kind is not None and kind.GetOptions().map_entry:
        if depth == 0:
            for key in draw(st.lists(_METHOD_KEYS, max_size=3, unique=True)):
                getattr(message, name)[key].CopyFrom(
                    draw(messages(pb.MethodPolicy.DESCRIPTOR, depth + 1))
                )
    elif kind is not None and kind.full_name == "google.protobuf.Duration":
        getattr(message, name).FromNanoseconds(draw(st.integers(0, 10**15)))
    elif kind is not None:
        getattr(message, name).CopyFrom(draw(messages(kind, depth + 1)))
    elif field.is_repeated:
        getattr(message, name).extend(
            draw(st.lists(st.sampled_from(list(STATUS_CODES)), max_size=4))
        )
    elif field.enum_type is not None:
        setattr(message, name, draw(st.sampled_from([0, 1, 2])))
    elif field.type == field.TYPE_BOOL:
        setattr(message, name, draw(st.booleans()))
    elif field.type == field.TYPE_UINT32:
        setattr(message, name, draw(st.integers(0, 2**32 - 1)))
    elif field.type == field.TYPE_DOUBLE:
        setattr(message, name, draw(st.floats(allow_nan=False, allow_infinity=False)))
    else:
        setattr(message, name, draw(st.text(max_size=12)))


@settings(max_examples=200, deadline=None)
@given(messages(pb.ToolPolicy.DESCRIPTOR))
def test_any_policy_survives_yaml_and_back(message: pb.ToolPolicy) -> None:
    back, problems = proto_from_mapping(yaml.safe_load(policy_to_yaml(message)))
    assert problems == []
    assert back == message
