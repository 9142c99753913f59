"""The YAML form of a tool's policy, to and from `toolmesh.v1.ToolPolicy`.

The form maps field for field onto the protobuf message, with the proto's snake_case names:

    timeout: 5s
    retry: {max_attempts: 3, initial_backoff: 1s, retryable_codes: [UNAVAILABLE]}
    load_balancing: round_robin
    methods:
      Summarize: {timeout: 30s, retry: {max_attempts: 1}}

Durations are text with a unit (`250ms`, `2s`, `1m30s`); status codes are gRPC code names;
`load_balancing` is `least_request`, `round_robin` or `peak_ewma`; `methods` maps a short
method name or `pkg.Service/Method` to an override; `hedging.delay: adaptive` spells
`hedging.adaptive: true` (both are read, the first is written). The walk follows the message
descriptors, so every field of the proto is writable here and nothing else is: an unknown key
is refused, naming the keys that are known. Reading reports every problem at once (shape here,
ranges and names from `mesh.config.validation`); writing emits only the fields that are set,
so a policy read back is the same message.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, cast

import yaml
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mesh.api.v1 import policy_pb2
from mesh.config.durations import (
    EXAMPLES,
    DurationError,
    DurationTooLong,
    format_nanos,
    parse_nanos,
)
from mesh.config.errors import ConfigError
from mesh.config.names import METHOD_KEY_RULE, status_code_problem
from mesh.config.validation import (
    BOUNDS,
    DURATION_TYPE,
    LOAD_BALANCING_NAMES,
    UINT32_MAX,
    join,
    policy_problems,
)

_LOAD_BALANCING_BY_NAME = {name: value for value, name in LOAD_BALANCING_NAMES.items()}

# `hedging.delay: adaptive` stands for `hedging.adaptive: true`: "adaptive" reads as a kind of
# delay, and it lets a method override replace a fixed delay the way a duration would.
ADAPTIVE_DELAY = "adaptive"
_HEDGE_DELAY = policy_pb2.HedgingPolicy.DESCRIPTOR.fields_by_name["delay"].full_name
_HEDGE_ADAPTIVE = policy_pb2.HedgingPolicy.DESCRIPTOR.fields_by_name["adaptive"].full_name


def load_policy_yaml(
    text: str, *, where: str, field: str = "", tool: str | None = None
) -> policy_pb2.ToolPolicy:
    """Parses and validates a policy written as YAML; raises ConfigError.

    `where` (e.g. the file name) prefixes every problem; `field` is the policy's own path
    (empty for a policy file, `policy` inside a manifest); `tool` as in `policy_problems`.
    An empty document is the empty policy: every default applies.
    """
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise ConfigError([_prefixed(where, f"not valid YAML: {reason}")]) from None
    return policy_from_mapping({} if data is None else data, where=where, field=field, tool=tool)


def policy_from_mapping(
    data: object, *, where: str, field: str = "", tool: str | None = None
) -> policy_pb2.ToolPolicy:
    """Converts and validates a parsed YAML policy; raises ConfigError listing every problem,
    each prefixed by `where` and its path under `field`."""
    policy, problems = proto_from_mapping(data, field=field)
    problems.extend(policy_problems(policy, field, tool=tool))
    if problems:
        raise ConfigError([_prefixed(where, problem) for problem in problems])
    return policy


def proto_from_mapping(data: object, *, field: str = "") -> tuple[policy_pb2.ToolPolicy, list[str]]:
    """The message `data` describes, and the problems of its shape (unknown keys, wrong
    types, unreadable durations), without range checks. A field with a problem is left unset."""
    policy = policy_pb2.ToolPolicy()
    problems: list[str] = []
    if not isinstance(data, Mapping):
        subject = field or "a policy"
        problems.append(f"{subject} must be a mapping (e.g. `timeout: 2s`), got {_kind(data)}")
        return policy, problems
    _fill(policy, data, field, problems)
    return policy, problems


def policy_to_mapping(policy: Message) -> dict[str, Any]:
    """The YAML form of `policy` (or one of its sections) as plain data: set fields only."""
    mapping: dict[str, Any] = {}
    for descriptor in policy.DESCRIPTOR.fields:
        name = descriptor.name
        value = getattr(policy, name)
        kind = descriptor.message_type
        if kind is not None and kind.GetOptions().map_entry:
            if value:
                mapping[name] = {key: policy_to_mapping(value[key]) for key in sorted(value)}
        elif descriptor.is_repeated:
            if value:
                mapping[name] = list(value)
        elif kind is not None:
            if policy.HasField(name):
                is_duration = kind.full_name == DURATION_TYPE
                mapping[name] = (
                    format_nanos(value.ToNanoseconds()) if is_duration else policy_to_mapping(value)
                )
        elif descriptor.has_presence:
            if policy.HasField(name):
                if (
                    descriptor.full_name == _HEDGE_ADAPTIVE
                    and value
                    and not policy.HasField("delay")
                ):
                    # Declared right after `delay`, so the key lands where `delay` would.
                    mapping["delay"] = ADAPTIVE_DELAY
                else:
                    mapping[name] = value
        elif descriptor.enum_type is not None:
            if value:
                mapping[name] = LOAD_BALANCING_NAMES.get(value, value)
        elif value:
            mapping[name] = value
    return mapping


def policy_to_yaml(policy: policy_pb2.ToolPolicy) -> str:
    """The policy as a YAML document that `load_policy_yaml` reads back to the same message."""
    mapping = policy_to_mapping(policy)
    if not mapping:
        return "{}\n"
    # Non-ASCII escaped: YAML folds some characters (NEL) when written raw, and the form must
    # read back to the same message.
    dumped: str = yaml.safe_dump(
        mapping, sort_keys=False, default_flow_style=False, allow_unicode=False
    )
    return dumped


# -- reading ---------------------------------------------------------------------------------


def _fill(message: Message, data: Mapping[Any, Any], path: str, problems: list[str]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            known = ", ".join(f.name for f in message.DESCRIPTOR.fields)
            problems.append(f"{join(path, str(key))}: unknown key (known: {known})")
            continue
        sub = join(path, key)
        if value is None:
            problems.append(f"{sub}: no value (leave the key out to get its default)")
            continue
        descriptor = cast(FieldDescriptor, fields[key])
        if descriptor.full_name == _HEDGE_DELAY:
            both = join(path, "adaptive") if "adaptive" in data else None
            _set_hedge_delay(cast(policy_pb2.HedgingPolicy, message), value, sub, both, problems)
        else:
            _set(message, descriptor, value, sub, problems)


def _set_hedge_delay(
    hedging: policy_pb2.HedgingPolicy,
    value: object,
    path: str,
    adaptive_key: str | None,
    problems: list[str],
) -> None:
    """`delay: adaptive` sets `adaptive: true`; any other value must be a duration.

    `adaptive_key` is the path of an `adaptive` key written beside `delay` (None: none is):
    with `delay: adaptive` that says the same thing twice, or contradicts it, so it is
    refused rather than resolved by the order of the keys.
    """
    expected = f"{path} must be a duration like 250ms or {ADAPTIVE_DELAY!r} (got {value!r})"
    if value == ADAPTIVE_DELAY:
        if adaptive_key is not None:
            problems.append(
                f"{path}: {ADAPTIVE_DELAY!r} and {adaptive_key} are both written; "
                f"keep one of them (`delay: {ADAPTIVE_DELAY}`)"
            )
            return
        hedging.adaptive = True
        return
    if not isinstance(value, str):
        problems.append(expected)
        return
    try:
        nanos = parse_nanos(value, allow_zero=True)
    except DurationTooLong as error:
        problems.append(f"{path}: {error}")
        return
    except DurationError:
        problems.append(expected)
        return
    hedging.delay.FromNanoseconds(nanos)


def _set(
    message: Message, descriptor: FieldDescriptor, value: object, path: str, problems: list[str]
) -> None:
    name = descriptor.name
    kind = descriptor.message_type
    if kind is not None and kind.GetOptions().map_entry:
        _fill_methods(getattr(message, name), value, path, problems)
    elif kind is not None and kind.full_name == DURATION_TYPE:
        if not isinstance(value, str):
            problems.append(f"{path} must be a duration with a unit, {EXAMPLES} (got {value!r})")
            return
        try:
            getattr(message, name).FromNanoseconds(parse_nanos(value, allow_zero=True))
        except DurationError as error:
            problems.append(f"{path}: {error}")
    elif kind is not None:
        if not isinstance(value, Mapping):
            problems.append(f"{path} must be a mapping of its fields (got {value!r})")
            return
        section = getattr(message, name)
        section.SetInParent()  # `retry: {}` is set, if empty
        _fill(section, value, path, problems)
    elif descriptor.is_repeated:
        codes = _codes(value, path, problems)
        if codes is not None:
            getattr(message, name).extend(codes)
    elif descriptor.enum_type is not None:
        if isinstance(value, str) and value in _LOAD_BALANCING_BY_NAME:
            setattr(message, name, _LOAD_BALANCING_BY_NAME[value])
        else:
            known = ", ".join(_LOAD_BALANCING_BY_NAME)
            problems.append(f"{path}: {value!r} is not a load balancing policy (known: {known})")
    elif descriptor.type == FieldDescriptor.TYPE_BOOL:
        if isinstance(value, bool):
            setattr(message, name, value)
        else:
            problems.append(f"{path} must be true or false (got {value!r})")
    elif descriptor.type == FieldDescriptor.TYPE_UINT32:
        whole = _whole_number(message, name, value, path, problems)
        if whole is not None:
            setattr(message, name, whole)
    elif descriptor.type == FieldDescriptor.TYPE_DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, bool):
            setattr(message, name, float(value))
        else:
            problems.append(f"{path} must be a number (got {value!r})")
    elif descriptor.type == FieldDescriptor.TYPE_STRING:
        if isinstance(value, str):
            setattr(message, name, value)
        else:
            problems.append(f"{path} must be text (got {value!r})")
    else:  # a field type the policy schema does not use (yet): refuse rather than guess
        problems.append(f"{path}: cannot be written in YAML")


def _whole_number(
    message: Message, name: str, value: object, path: str, problems: list[str]
) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{path} must be a whole number (got {value!r})")
        return None
    if 0 <= value <= UINT32_MAX:
        return value
    # Out of what the message can hold: report it as the range rule would.
    bounds = BOUNDS.get(message.DESCRIPTOR.name, {}).get(name)
    problem = None if bounds is None else bounds.problem(path, value)
    if problem is None:
        problem = (
            f"{path} must be >= 0 (got {value})"
            if value < 0
            else f"{path} must be at most {UINT32_MAX} (got {value})"
        )
    problems.append(problem)
    return None


def _codes(value: object, path: str, problems: list[str]) -> list[str] | None:
    if not isinstance(value, list):
        problems.append(f"{path} must be a list of status code names, e.g. [UNAVAILABLE]")
        return None
    if not value:
        problems.append(
            f"{path}: an empty list would mean the default; list at least one status code name"
        )
        return None
    if all(isinstance(item, str) for item in value):
        return list(value)  # names are checked by the validation, with the same indexes
    for index, item in enumerate(value):
        problem = (
            f"must be a status code name (got {item!r})"
            if not isinstance(item, str)
            else status_code_problem(item)
        )
        if problem is not None:
            problems.append(f"{path}[{index}]: {problem}")
    return None


def _fill_methods(methods: Any, value: object, path: str, problems: list[str]) -> None:
    if not isinstance(value, Mapping):
        problems.append(
            f"{path} must be a mapping of method name to override, e.g. "
            f"{{Summarize: {{timeout: 30s}}}} (got {value!r})"
        )
        return
    for key, override in value.items():
        if not isinstance(key, str):
            problems.append(f"{path}: {key!r} is not a method name ({METHOD_KEY_RULE})")
            continue
        sub = join(path, key)
        if override is None:
            problems.append(f"{sub}: no value (an override is a mapping, e.g. {{timeout: 30s}})")
        elif not isinstance(override, Mapping):
            problems.append(f"{sub} must be a mapping of its fields (got {override!r})")
        else:
            _fill(methods[key], override, sub, problems)


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _prefixed(where: str, problem: str) -> str:
    return f"{where}: {problem}" if where else problem


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (PyYAML would keep
    the last silently, and a hand-written policy with two `timeout:` lines is a mistake)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
