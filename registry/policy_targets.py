"""Whether a policy's names reach something: its `methods` keys and its fallback tools.

`mesh.config` checks a policy's values on their own. What it cannot know is the tool the
policy is for, so a typo in a `methods` key (`Sumarize`) or a fallback that cannot serve the
calls sent to it would be stored and silently never apply. This module checks a policy
against the methods of its tool and of its registered fallback tools, as the sidecar uses
them (`sidecar/relay/routes.py`, `ToolPolicyConfig.for_method`):

- a call uses its method's full-name override (`pkg.Service/Method`), else its short-name
  override (`Method`), else the tool's policy, so every key must name a method of the tool;
  a short name that two of the tool's services define is refused (the user must write the
  full name), and a short key whose method also has a full-name key never applies;
- a failed call goes to the fallback tool's first method (in declaration order) with the
  same short name, with the request bytes as they are: that method must take and return the
  same message types (compared by full name) and stream the same way. A method-level
  fallback must serve its method. The tool-level fallback must serve at least one of the
  methods it stands in for (those whose override does not set `fallback`); it may leave the
  others uncovered, and calls to those fail as if there were no fallback.

Every function is pure. Problems are strings prefixed by the request field they concern, in
the style of `registry.validation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from mesh.api.v1 import policy_pb2, registry_pb2
from mesh.config.names import is_method_key
from mesh.descriptors import (
    DescriptorError,
    MethodShape,
    build_pool,
    method_shapes,
    served_services,
)

MethodShapes = tuple[MethodShape, ...]

NO_TOOLS: Mapping[str, MethodShapes] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PolicyTargets:
    """What a policy of tool `tool` is checked against.

    `methods`: the tool's methods. `fallbacks`: the methods of each registered tool the policy
    may name as a fallback; a fallback absent from it (not registered, or not looked up) is not
    checked here.
    """

    tool: str
    methods: MethodShapes
    fallbacks: Mapping[str, MethodShapes]


def tool_methods(tool: registry_pb2.Tool) -> MethodShapes:
    """Every method of a stored tool's services, in declaration order, as the sidecar sees it.

    Like the sidecar's catalog, a tool without explicit services serves every service of its
    descriptors, and descriptors that do not load (only possible for data written by an older
    registry) serve nothing.
    """
    services = served_services(tool.services, tool.descriptors)
    try:
        return tuple(method_shapes(build_pool(tool.descriptors), services))
    except DescriptorError:
        return ()


def fallback_fields(policy: policy_pb2.ToolPolicy, field: str) -> list[tuple[str, str]]:
    """(request field, tool name) of each non-empty fallback, the tool's first.

    An override's `fallback: ""` means "no fallback for this method" and is left out.
    """
    found = [(f"{field}.fallback", policy.fallback)] if policy.fallback else []
    for key in sorted(policy.methods):
        method = policy.methods[key]
        if method.HasField("fallback") and method.fallback:
            found.append((f"{field}.methods.{key}.fallback", method.fallback))
    return found


def fallback_names(policy: policy_pb2.ToolPolicy) -> set[str]:
    """Every tool a policy names as a fallback (the tool's own and its methods')."""
    return {name for _, name in fallback_fields(policy, "")}


def target_problems(policy: policy_pb2.ToolPolicy, field: str, targets: PolicyTargets) -> list[str]:
    """Problems of `policy` (given in request field `field`) against `targets`.

    Keys that are not method keys at all, and fallbacks that are the tool itself, are left to
    `mesh.config`, which reports them; so are fallbacks missing from `targets.fallbacks`.
    Order: the tool-level fallback, then each `methods` key in sorted order.
    """
    methods_field = f"{field}.methods"
    resolved, key_problems = _resolve_keys(policy, methods_field, targets)
    problems = _tool_fallback_problems(policy, f"{field}.fallback", targets)
    for key in sorted(policy.methods):
        problems.extend(key_problems.get(key, ()))
        shape = resolved.get(key)
        override = policy.methods[key]
        if shape is None or not override.HasField("fallback"):
            continue
        fallback = _checked_fallback(override.fallback, targets)
        if fallback is None:
            continue
        path = f"{methods_field}.{key}.fallback"
        served = _served_by(fallback, shape.name)
        if served is None:
            problems.append(
                f"{path}: tool {override.fallback!r} has no method {shape.name} "
                f"(its methods: {_names(fallback) or 'none'}), so it would never be called"
            )
        else:
            problems.extend(_shape_problems(path, override.fallback, served, [shape]))
    return problems


def stale_policy_problems(
    changed: str, states: Iterable[registry_pb2.ToolState]
) -> dict[str, list[str]]:
    """After tool `changed` was registered again, the policies it may have broken.

    Checks the stored policy of `changed` itself (a registration without a policy keeps the
    old one) and of every tool naming `changed` as a fallback, against the tools as stored
    now. Returns the problems by tool name, leaving out tools whose policy still fits.
    """
    by_name = {state.tool.name: state.tool for state in states}
    methods: dict[str, MethodShapes] = {}

    def methods_of(name: str) -> MethodShapes:
        # Only the tools involved are parsed: building descriptor pools is the costly part.
        if name not in methods:
            methods[name] = tool_methods(by_name[name])
        return methods[name]

    stale: dict[str, list[str]] = {}
    for name, tool in sorted(by_name.items()):
        if not tool.HasField("policy"):
            continue
        named = fallback_names(tool.policy)
        if name != changed and changed not in named:
            continue
        fallbacks = {other: methods_of(other) for other in named if other in by_name}
        targets = PolicyTargets(name, methods_of(name), fallbacks)
        problems = target_problems(tool.policy, "policy", targets)
        if problems:
            stale[name] = problems
    return stale


def lost_fallback_problems(
    removed: str, states: Iterable[registry_pb2.ToolState]
) -> dict[str, list[str]]:
    """After tool `removed` was deregistered, each stored policy field naming it as a fallback.

    Returns the problems by tool name (one per field, the tool's own fallback first), leaving
    out tools whose policy does not name `removed`.
    """
    lost: dict[str, list[str]] = {}
    for state in sorted(states, key=lambda state: state.tool.name):
        if not state.tool.HasField("policy"):
            continue
        paths = [
            path for path, name in fallback_fields(state.tool.policy, "policy") if name == removed
        ]
        if paths:
            lost[state.tool.name] = [
                f"{path}: tool {removed!r} is not registered, so a failed call gets no "
                "fallback there until it is registered again"
                for path in paths
            ]
    return lost


def stale_policy_warnings(change: str, stale: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per problem of `stale` (problems by tool name), saying which change caused it.

    `change` completes "after ...", e.g. "tool 'backup' was registered". Tools come in name
    order, each tool's problems in the order given. These lines are what the registry logs and
    returns in a response's `warnings`.
    """
    return [
        f"the policy of tool {tool!r} is stale after {change}: {problem}"
        for tool in sorted(stale)
        for problem in stale[tool]
    ]


# -- methods keys ------------------------------------------------------------------------------


def _resolve_keys(
    policy: policy_pb2.ToolPolicy, field: str, targets: PolicyTargets
) -> tuple[dict[str, MethodShape], dict[str, list[str]]]:
    """The method each usable `methods` key names, and the problems of the others by key."""
    resolved: dict[str, MethodShape] = {}
    problems: dict[str, list[str]] = {}
    for key in sorted(policy.methods):
        if not is_method_key(key):
            continue  # mesh.config reports it
        full = "/" in key
        matches = [
            shape for shape in targets.methods if (_full_name(shape) if full else shape.name) == key
        ]
        if not matches:
            listed = (
                ", ".join(_full_name(shape) for shape in targets.methods)
                if full
                else _names(targets.methods)
            )
            problems[key] = [
                f"{field}: {key!r} is not a method of tool {targets.tool!r} "
                f"(its methods: {listed or 'none'})"
            ]
        elif len(matches) > 1:
            problems[key] = [
                f"{field}: {key!r} is ambiguous in tool {targets.tool!r} "
                f"({', '.join(_full_name(shape) for shape in matches)}): use the full name"
            ]
        elif not full and _full_name(matches[0]) in policy.methods:
            problems[key] = [
                f"{field}: {key!r} never applies: {_full_name(matches[0])!r} overrides the "
                "same method and the full name wins (merge the two overrides)"
            ]
        else:
            resolved[key] = matches[0]
    return resolved, problems


# -- fallbacks ---------------------------------------------------------------------------------


def _tool_fallback_problems(
    policy: policy_pb2.ToolPolicy, path: str, targets: PolicyTargets
) -> list[str]:
    fallback = _checked_fallback(policy.fallback, targets) if policy.fallback else None
    if fallback is None:
        return []
    stood_in_for = [shape for shape in targets.methods if _inherits_fallback(policy, shape)]
    if not stood_in_for:
        return []  # every method sets its own fallback: the tool's is a default for none
    names = list(dict.fromkeys(shape.name for shape in stood_in_for))
    served = {name: _served_by(fallback, name) for name in names}
    if all(method is None for method in served.values()):
        return [
            f"{path}: tool {policy.fallback!r} serves none of {', '.join(names)} "
            f"(its methods: {_names(fallback) or 'none'}), so it would never be called "
            "(a fallback gets a failed call on its method of the same name)"
        ]
    problems: list[str] = []
    for method in served.values():
        if method is not None:
            problems.extend(_shape_problems(path, policy.fallback, method, stood_in_for))
    return problems


def _inherits_fallback(policy: policy_pb2.ToolPolicy, shape: MethodShape) -> bool:
    """True when calls to `shape` use the tool-level fallback: the override that applies to
    them (full name first, as in `for_method`) does not set its own."""
    for key in (_full_name(shape), shape.name):
        if key in policy.methods:
            return not policy.methods[key].HasField("fallback")
    return True


def _checked_fallback(name: str, targets: PolicyTargets) -> MethodShapes | None:
    """The methods of fallback `name` when it is to be checked here."""
    if not name or name == targets.tool:
        return None  # no fallback, or the tool itself (refused by mesh.config)
    return targets.fallbacks.get(name)


def _served_by(fallback: MethodShapes, name: str) -> MethodShape | None:
    """The method of the fallback tool a call to method `name` goes to (the sidecar's pick)."""
    return next((shape for shape in fallback if shape.name == name), None)


def _shape_problems(
    path: str, fallback_tool: str, served: MethodShape, primaries: Sequence[MethodShape]
) -> list[str]:
    """One problem for each primary method of `served`'s name whose shape it does not have."""
    same_name = [shape for shape in primaries if shape.name == served.name]
    problems: list[str] = []
    for shape in same_name:
        differences = _differences(served, shape)
        if not differences:
            continue
        whose = f" (for {_full_name(shape)})" if len(same_name) > 1 else ""
        problem = (
            f"{path}: tool {fallback_tool!r} method {served.name}{whose} "
            f"{', '.join(differences)} (a fallback gets the call's messages as they are)"
        )
        if problem not in problems:
            problems.append(problem)
    return problems


def _differences(served: MethodShape, expected: MethodShape) -> list[str]:
    """How `served` differs from `expected`, each as a verb phrase; empty when it fits."""
    found = []
    if served.input_type != expected.input_type:
        found.append(f"takes {served.input_type}, not {expected.input_type}")
    if served.output_type != expected.output_type:
        found.append(f"returns {served.output_type}, not {expected.output_type}")
    if _streaming(served) != _streaming(expected):
        found.append(f"is {_streaming(served)}, not {_streaming(expected)}")
    return found


def _streaming(shape: MethodShape) -> str:
    if shape.client_streaming and shape.server_streaming:
        return "bidirectional streaming"
    if shape.client_streaming:
        return "client streaming"
    if shape.server_streaming:
        return "server streaming"
    return "unary"


def _full_name(shape: MethodShape) -> str:
    """The method as a `methods` key writes it in full: `pkg.Service/Method`."""
    return f"{shape.service}/{shape.name}"


def _names(shapes: Iterable[MethodShape]) -> str:
    """The short names of `shapes`, each once, in declaration order."""
    return ", ".join(dict.fromkeys(shape.name for shape in shapes))
