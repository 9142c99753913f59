"""Every rule a `toolmesh.v1.ToolPolicy` must follow, checked in one place.

The registry refuses a policy write with these problems and sidecars check what they load
with the same function, so a policy the registry accepted always loads. Each problem names
the field path and the bad value: `retry.max_attempts must be between 1 and 10 (got 0)`,
`methods.Summarize.timeout must be > 0 (got 0s)`.

The ranges are the ones stated in proto/toolmesh/v1/policy.proto. Rules that relate two
fields (`max_backoff >= initial_backoff`) are checked on the values that will apply, the
documented defaults and the tool's values included, so an override cannot produce an
incoherent method policy. The hedge delay's two forms are checked per level instead: a level
sets `delay` or `adaptive: true`, not both, and a method's choice replaces the tool's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from mesh.api.v1 import policy_pb2
from mesh.config.durations import MAX_NANOS, NANOS_PER_SECOND, format_nanos, format_seconds
from mesh.config.names import (
    METHOD_KEY_RULE,
    TOOL_NAME_RULE,
    is_method_key,
    is_tool_name,
    status_code_problem,
)
from mesh.config.policy import BreakerConfig, ConcurrencyConfig, OutlierConfig, RetryConfig

DURATION_TYPE = Duration.DESCRIPTOR.full_name
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Bounds:
    """The range of a numeric field, both ends included; `maximum` None: no upper end."""

    minimum: float
    maximum: float | None = None

    def problem(self, path: str, value: float) -> str | None:
        """Why `value` is out of range for the field at `path`; None when it is in range."""
        inside = math.isfinite(value) and value >= self.minimum
        if self.maximum is None:
            if not inside:
                return f"{path} must be >= {number(self.minimum)} (got {number(value)})"
            return None
        if not (inside and value <= self.maximum):
            return (
                f"{path} must be between {number(self.minimum)} and {number(self.maximum)} "
                f"(got {number(value)})"
            )
        return None


# Every numeric field of the policy messages, by message name then field name.
BOUNDS: Mapping[str, Mapping[str, Bounds]] = {
    "RetryPolicy": {
        "max_attempts": Bounds(1, 10),
        "multiplier": Bounds(1),
        "budget_ratio": Bounds(0, 1),
        "budget_min_per_second": Bounds(0),
    },
    "CircuitBreakerPolicy": {
        "consecutive_failures": Bounds(0),
        "failure_rate": Bounds(0, 1),
        "minimum_calls": Bounds(0),
        "slow_call_rate": Bounds(0, 1),
        "open_for_multiplier": Bounds(1),
        "half_open_calls": Bounds(1),
    },
    "OutlierDetectionPolicy": {
        # 0 would eject an endpoint before it failed; `enabled: false` turns ejection off.
        "consecutive_failures": Bounds(1),
        "max_ejection_ratio": Bounds(0, 1),
        "panic_threshold": Bounds(0, 1),
    },
    "HedgingPolicy": {"max_hedges": Bounds(1, 3)},
    "ConcurrencyLimitPolicy": {"max_in_flight": Bounds(0), "max_queue": Bounds(0)},
}
LOAD_BALANCING_NAMES: Mapping[int, str] = {
    policy_pb2.LOAD_BALANCING_LEAST_REQUEST: "least_request",
    policy_pb2.LOAD_BALANCING_ROUND_ROBIN: "round_robin",
    policy_pb2.LOAD_BALANCING_PEAK_EWMA: "peak_ewma",
}


def number(value: float) -> str:
    """A number as messages show it: `3`, `0.5`, `2`, `nan`."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def join(path: str, name: str) -> str:
    """`retry` + `max_attempts` -> `retry.max_attempts`; an empty path is the root."""
    return f"{path}.{name}" if path else name


def policy_problems(
    policy: policy_pb2.ToolPolicy, field: str = "policy", *, tool: str | None = None
) -> list[str]:
    """Every problem of `policy`, each prefixed by its path under `field` (empty when valid).

    `tool` is the name of the tool the policy belongs to, when known: a fallback naming the
    tool itself is then refused. Whether the fallback tool exists is for the registry to say.
    """
    problems: list[str] = []
    _field_problems(policy, field, problems)
    balancing = policy.load_balancing
    if balancing != policy_pb2.LOAD_BALANCING_UNSPECIFIED and balancing not in LOAD_BALANCING_NAMES:
        problems.append(
            f"{join(field, 'load_balancing')}: {balancing} is not a load balancing policy "
            f"(known: {', '.join(LOAD_BALANCING_NAMES.values())})"
        )
    if policy.fallback:
        problems.extend(_fallback_problems(policy.fallback, join(field, "fallback"), tool))
    _tool_cross_field_problems(policy, field, problems)
    methods_path = join(field, "methods")
    for key in sorted(policy.methods):
        if not is_method_key(key):
            problems.append(f"{methods_path}: {key!r} is not a method name ({METHOD_KEY_RULE})")
        method = policy.methods[key]
        path = join(methods_path, key)
        _field_problems(method, path, problems)
        if method.HasField("fallback") and method.fallback:
            # An empty fallback set on a method is valid: no fallback for that method.
            problems.extend(_fallback_problems(method.fallback, join(path, "fallback"), tool))
        _method_cross_field_problems(policy, method, path, problems)
    return problems


def _field_problems(message: Message, path: str, problems: list[str]) -> None:
    """Durations, numbers and status code lists of `message`, recursively (maps excepted)."""
    bounds = BOUNDS.get(message.DESCRIPTOR.name, {})
    for descriptor in message.DESCRIPTOR.fields:
        name = descriptor.name
        sub = join(path, name)
        kind = descriptor.message_type
        if kind is not None and kind.GetOptions().map_entry:
            continue  # `methods`: checked by the caller, which knows the key rules
        if descriptor.is_repeated:
            # The only repeated fields of the policy are lists of status code names.
            for index, code in enumerate(getattr(message, name)):
                problem = status_code_problem(code)
                if problem is not None:
                    problems.append(f"{sub}[{index}]: {problem}")
            continue
        if descriptor.has_presence and not message.HasField(name):
            continue
        value = getattr(message, name)
        if kind is not None and kind.full_name == DURATION_TYPE:
            problem = duration_problem(value, sub)
            if problem is not None:
                problems.append(problem)
        elif kind is not None:
            _field_problems(value, sub, problems)
        elif name in bounds:
            problem = bounds[name].problem(sub, value)
            if problem is not None:
                problems.append(problem)


def duration_problem(duration: Duration, path: str) -> str | None:
    """Why the duration at `path` is unusable (every policy duration must be > 0)."""
    seconds, nanos = duration.seconds, duration.nanos
    if abs(nanos) >= NANOS_PER_SECOND or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        return f"{path}: not a valid duration (seconds {seconds}, nanos {nanos})"
    total = seconds * NANOS_PER_SECOND + nanos
    if total <= 0:
        return f"{path} must be > 0 (got {format_nanos(total)})"
    if total > MAX_NANOS:
        return f"{path} must be at most {format_nanos(MAX_NANOS)} (got {format_nanos(total)})"
    return None


def _fallback_problems(name: str, path: str, tool: str | None) -> list[str]:
    if not is_tool_name(name):
        return [f"{path}: {name!r} is not a valid tool name ({TOOL_NAME_RULE})"]
    if tool is not None and name == tool:
        return [f"{path}: {name!r} is the tool itself (a fallback must be another tool)"]
    return []


# -- rules between fields, on the values that apply ------------------------------------------

# (section, lower field, upper field, default lower, default upper): upper must be >= lower.
_ORDERED_PAIRS: Sequence[tuple[str, str, str, float, float]] = (
    (
        "retry",
        "initial_backoff",
        "max_backoff",
        RetryConfig().initial_backoff_s,
        RetryConfig().max_backoff_s,
    ),
    (
        "circuit_breaker",
        "open_for",
        "max_open_for",
        BreakerConfig().open_for_s,
        BreakerConfig().max_open_for_s,
    ),
    (
        "outlier_detection",
        "base_ejection_time",
        "max_ejection_time",
        OutlierConfig().base_ejection_s,
        OutlierConfig().max_ejection_s,
    ),
)


@dataclass(frozen=True, slots=True)
class _Applied:
    """The value of a field that applies and where it comes from: `origin` is empty when
    the level being checked set it, else `the tool's` or `the default`."""

    value: float
    origin: str

    def shown(self, is_duration: bool) -> str:
        text = format_seconds(self.value) if is_duration else number(self.value)
        return f"{text} ({self.origin})" if self.origin else text


# The levels a value may come from, most specific first: (section or None, origin label).
_Layers = Sequence[tuple[Message | None, str]]


def _applied(layers: _Layers, name: str, default: float) -> _Applied | None:
    """The first level's value of `name` that is set, else `default`; None when that value
    is itself invalid (its own problem is reported already)."""
    for layer, origin in layers:
        if layer is None or not layer.HasField(name):
            continue
        value = getattr(layer, name)
        if isinstance(value, Duration):
            if duration_problem(value, name) is not None:
                return None
            return _Applied(value.ToNanoseconds() / NANOS_PER_SECOND, origin)
        return _Applied(float(value), origin) if math.isfinite(value) else None
    return _Applied(default, "the default")


def _section(message: Message, name: str) -> Message | None:
    section: Message = getattr(message, name)
    return section if message.HasField(name) else None


def _pair_problems(
    layers: _Layers, path: str, pair: tuple[str, str, str, float, float]
) -> list[str]:
    _, lower_name, upper_name, lower_default, upper_default = pair
    lower = _applied(layers, lower_name, lower_default)
    upper = _applied(layers, upper_name, upper_default)
    if lower is None or upper is None or upper.value >= lower.value:
        return []
    return [
        f"{join(path, upper_name)} must be >= {join(path, lower_name)} "
        f"(got {upper.shown(True)} < {lower.shown(True)})"
    ]


def _slow_call_problems(layers: _Layers, path: str) -> list[str]:
    rate = _applied(layers, "slow_call_rate", BreakerConfig().slow_call_rate)
    if rate is None or not 0 < rate.value <= 1:
        return []
    if any(layer is not None and layer.HasField("slow_call_duration") for layer, _ in layers):
        return []
    return [
        f"{join(path, 'slow_call_rate')} needs {join(path, 'slow_call_duration')} "
        f"(got slow_call_rate {number(rate.value)} and no slow_call_duration)"
    ]


def _hedge_delay_problems(
    owner: policy_pb2.ToolPolicy | policy_pb2.MethodPolicy, path: str
) -> list[str]:
    """A hedge delay is fixed (`delay`) or adaptive (`adaptive: true`), never both at one
    level; `adaptive: false` is refused as it names no delay at all (a fixed one is `delay`).
    `owner` is the tool's policy or a method's override, `path` its `hedging` section's."""
    if not owner.HasField("hedging"):
        return []
    hedging = owner.hedging
    if not hedging.HasField("adaptive"):
        return []
    if not hedging.adaptive:
        return [
            f"{join(path, 'adaptive')} must be true when set (got false); "
            f"set {join(path, 'delay')} for a fixed delay"
        ]
    if not hedging.HasField("delay"):
        return []
    return [
        f"{join(path, 'delay')} and {join(path, 'adaptive')} are both set "
        f"(got delay {format_nanos(hedging.delay.ToNanoseconds())} and adaptive true); "
        "set one: delay for a fixed delay, adaptive for the live p95"
    ]


def _tool_cross_field_problems(
    policy: policy_pb2.ToolPolicy, field: str, problems: list[str]
) -> None:
    problems.extend(_hedge_delay_problems(policy, join(field, "hedging")))
    for pair in _ORDERED_PAIRS:
        section = pair[0]
        layers = [(_section(policy, section), "")]
        problems.extend(_pair_problems(layers, join(field, section), pair))
    breaker = [(_section(policy, "circuit_breaker"), "")]
    problems.extend(_slow_call_problems(breaker, join(field, "circuit_breaker")))
    limit = [(_section(policy, "concurrency_limit"), "")]
    defaults = ConcurrencyConfig()
    queue = _applied(limit, "max_queue", defaults.max_queue)
    in_flight = _applied(limit, "max_in_flight", defaults.max_in_flight)
    if queue is not None and in_flight is not None and queue.value > 0 and in_flight.value == 0:
        path = join(field, "concurrency_limit")
        problems.append(
            f"{path}.max_queue needs {path}.max_in_flight > 0 (got max_queue "
            f"{number(int(queue.value))} with no limit on calls in flight)"
        )


def _method_cross_field_problems(
    policy: policy_pb2.ToolPolicy, method: policy_pb2.MethodPolicy, path: str, problems: list[str]
) -> None:
    """Pair rules for the sections a method overrides, on its values over the tool's; a
    problem the method does not touch is reported once, at the tool."""
    for pair in _ORDERED_PAIRS:
        section, lower_name, upper_name = pair[0], pair[1], pair[2]
        if section not in method.DESCRIPTOR.fields_by_name:
            continue  # not overridable per method (outlier detection is per endpoint)
        own = _section(method, section)
        if own is None or not (own.HasField(lower_name) or own.HasField(upper_name)):
            continue
        layers = [(own, ""), (_section(policy, section), "the tool's")]
        problems.extend(_pair_problems(layers, join(path, section), pair))
    problems.extend(_hedge_delay_problems(method, join(path, "hedging")))
    own_breaker = _section(method, "circuit_breaker")
    if own_breaker is not None and own_breaker.HasField("slow_call_rate"):
        layers = [(own_breaker, ""), (_section(policy, "circuit_breaker"), "the tool's")]
        problems.extend(_slow_call_problems(layers, join(path, "circuit_breaker")))
