"""Validation of the Registry API's requests: protobuf in, plain validated values out.

Every function here is pure: it reads a request, changes nothing, and either returns the
normalized values the store needs or raises `InvalidArgument` listing every problem of the
request at once (joined with "; "), each prefixed by the request field it concerns, e.g.
`tool.endpoints[1].address: address 'foo' has no port (expected HOST:PORT)`.

What depends on stored state (an unknown tool, a service owned by another tool) is checked
by the store inside the transaction that makes the change, so it cannot race. The one
exception is a policy's fallback tools: the service looks them up just before validating and
passes the missing ones in (`unregistered`) and the methods of the others (`fallbacks`), so
they are reported with every other problem. A fallback tool removed or changed later is not
prevented (see `registry.service`); sidecars treat a missing fallback as none.

Policies are checked with `mesh.config`, the code sidecars load them with, and against the
methods of the tool and of its fallbacks with `registry.policy_targets`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from google.protobuf import duration_pb2

from mesh.addresses import AddressError, parse_address
from mesh.api.v1 import policy_pb2, registry_pb2
from mesh.config import policy_problems as config_policy_problems
from mesh.config.names import TOOL_NAME, TOOL_NAME_RULE, is_tool_name
from mesh.descriptors import DescriptorError, build_pool, find_service, method_shapes, services_in
from mesh.reserved import RESERVED_SERVICES
from registry.errors import InvalidArgument
from registry.leases import DEFAULT_TTL, MAX_TTL, MIN_TTL
from registry.policy_targets import (
    NO_TOOLS,
    MethodShapes,
    PolicyTargets,
    fallback_fields,
    target_problems,
)

_TOOL_NAME = TOOL_NAME  # one rule for tool names, shared with policy fallbacks
_MAX_INSTANCE_ID = 253  # characters; fits a DNS name or a pod name
_INSTANCE_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A RegisterTool request, validated.

    `tool` has its services resolved (the default made explicit, duplicates dropped), its
    endpoints canonical and de-duplicated, and every registry-set field cleared.
    """

    tool: registry_pb2.Tool
    services: tuple[str, ...]
    replaces_policy: bool  # the request carried a policy


@dataclass(frozen=True, slots=True)
class InstanceRegistration:
    """A RegisterInstance request, validated. `ttl` is in seconds."""

    tool: str
    instance_id: str
    address: str
    ttl: float


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """A Heartbeat or DeregisterInstance request, validated."""

    tool: str
    instance_id: str


def _raise_if(problems: Sequence[str]) -> None:
    if problems:
        raise InvalidArgument("; ".join(problems))


def tool_name_problems(name: str, field: str) -> list[str]:
    """Problems of a tool name given in request field `field` (empty when valid)."""
    if not name:
        return [f"{field}: required"]
    if not _TOOL_NAME.fullmatch(name):
        return [f"{field}: {name!r} is not a valid tool name ({TOOL_NAME_RULE})"]
    return []


def require_tool_name(name: str, field: str) -> str:
    """`name` when it is a valid tool name; raises InvalidArgument naming `field` otherwise."""
    _raise_if(tool_name_problems(name, field))
    return name


def canonical_address(text: str, field: str, problems: list[str]) -> str:
    """The canonical form of the address in `field`; appends to `problems` when invalid."""
    try:
        return str(parse_address(text))
    except AddressError as error:
        problems.append(f"{field}: {error}")
        return text


def _endpoint_addresses(
    endpoints: Iterable[registry_pb2.Endpoint], field: str, problems: list[str]
) -> list[str]:
    addresses: list[str] = []
    for index, endpoint in enumerate(endpoints):
        address = canonical_address(endpoint.address, f"{field}[{index}].address", problems)
        if address not in addresses:
            addresses.append(address)
    return addresses


def _duration_seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def policy_problems(
    policy: policy_pb2.ToolPolicy,
    field: str,
    *,
    tool: str | None = None,
    unregistered: AbstractSet[str] = frozenset(),
    targets: PolicyTargets | None = None,
) -> list[str]:
    """Problems of a tool policy given in request field `field`.

    The rules are `mesh.config`'s, the code sidecars load policies with. On top, a fallback
    (the tool's or a method's) must not be the tool itself (`tool`) and must not be one of
    `unregistered`: the names the caller found missing from the store (see
    `policy_targets.fallback_names`). With `targets`, the `methods` keys must name methods of
    the tool and the fallbacks must be able to serve the calls sent to them (see
    `registry.policy_targets`).
    """
    problems = config_policy_problems(policy, field, tool=tool)
    for path, name in fallback_fields(policy, field):
        if name in unregistered and name != tool and is_tool_name(name):
            problems.append(
                f"{path}: tool {name!r} is not registered (a fallback must be a registered tool)"
            )
    if targets is not None:
        problems.extend(target_problems(policy, field, targets))
    return problems


def _service_problems(
    tool: registry_pb2.Tool, problems: list[str]
) -> tuple[tuple[str, ...], MethodShapes | None]:
    """Resolves the tool's services against its descriptors, appending what is wrong.

    Returns the services and, when they all resolved, their methods (None otherwise: a
    policy's method names are then not checked, the services' problems come first).
    """
    if not tool.HasField("descriptors") or not tool.descriptors.file:
        problems.append(
            "tool.descriptors: required (a FileDescriptorSet with the files of the tool's "
            "services and their imports)"
        )
        return (), None
    try:
        pool = build_pool(tool.descriptors)
    except DescriptorError as error:
        message = str(error)
        prefix = "" if message.startswith("descriptors:") else "descriptors: "
        problems.append(f"tool.{prefix}{message}")
        return (), None
    requested = list(dict.fromkeys(tool.services))
    if not requested:
        requested = list(dict.fromkeys(services_in(tool.descriptors)))
        if not requested:
            problems.append(
                "tool.services: the descriptors define no service (a tool must serve one)"
            )
        _reserved_problems(requested, "tool.descriptors", problems)
        return tuple(requested), tuple(method_shapes(pool, requested))
    unknown = False
    for index, service in enumerate(tool.services):
        try:
            find_service(pool, service)
        except DescriptorError as error:
            problems.append(f"tool.services[{index}]: {error}")
            unknown = True
    _reserved_problems(requested, "tool.services", problems)
    return tuple(requested), None if unknown else tuple(method_shapes(pool, requested))


def _reserved_problems(services: list[str], field: str, problems: list[str]) -> None:
    for service in services:
        if service in RESERVED_SERVICES:
            problems.append(
                f"{field}: service {service} is served by every sidecar itself; "
                "a tool cannot claim it (list the tool's own services in tool.services)"
            )


def validate_tool(
    tool: registry_pb2.Tool,
    *,
    unregistered: AbstractSet[str] = frozenset(),
    fallbacks: Mapping[str, MethodShapes] = NO_TOOLS,
) -> ToolDefinition:
    """Validates RegisterToolRequest.tool; raises InvalidArgument listing every problem.

    `unregistered`: fallback tools of its policy that the store does not have. `fallbacks`:
    the methods of those it has (a fallback left out is not checked against its methods).
    The policy's `methods` keys are checked against the tool's own descriptors.
    """
    problems = tool_name_problems(tool.name, "tool.name")
    services, methods = _service_problems(tool, problems)
    addresses = _endpoint_addresses(tool.endpoints, "tool.endpoints", problems)
    if tool.HasField("policy"):
        targets = None if methods is None else PolicyTargets(tool.name, methods, fallbacks)
        problems.extend(
            policy_problems(
                tool.policy,
                "tool.policy",
                tool=tool.name,
                unregistered=unregistered,
                targets=targets,
            )
        )
    if tool.HasField("cost"):
        problems.extend(_cost_problems(tool.cost))
    _raise_if(problems)
    normalized = registry_pb2.Tool()
    normalized.CopyFrom(tool)
    normalized.revision = 0
    del normalized.services[:]
    normalized.services.extend(services)
    del normalized.endpoints[:]
    normalized.endpoints.extend(registry_pb2.Endpoint(address=address) for address in addresses)
    return ToolDefinition(normalized, services, tool.HasField("policy"))


_COST_UNIT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _cost_problems(cost: registry_pb2.Cost) -> list[str]:
    problems = []
    if not math.isfinite(cost.amount) or cost.amount < 0:
        problems.append(f"tool.cost.amount must be a number >= 0 (got {cost.amount})")
    if not _COST_UNIT.match(cost.unit):
        problems.append(
            f"tool.cost.unit {cost.unit!r} is not a unit (1 to 32 letters, digits, '_' or '-',"
            " e.g. USD or tokens)"
        )
    return problems


def validate_add_endpoints(request: registry_pb2.AddEndpointsRequest) -> list[str]:
    """Validates AddEndpoints; returns the canonical addresses to add, without duplicates."""
    problems = tool_name_problems(request.tool, "tool")
    if not request.endpoints:
        problems.append("endpoints: at least one endpoint is required")
    addresses = _endpoint_addresses(request.endpoints, "endpoints", problems)
    _raise_if(problems)
    return addresses


def validate_remove_endpoints(request: registry_pb2.RemoveEndpointsRequest) -> list[str]:
    """Validates RemoveEndpoints; returns the addresses to remove in canonical form.

    An address that does not parse cannot be stored, so it is kept as written: it matches
    nothing and is ignored like any other unknown endpoint.
    """
    problems = tool_name_problems(request.tool, "tool")
    if not request.addresses:
        problems.append("addresses: at least one address is required")
    _raise_if(problems)
    addresses: list[str] = []
    for text in request.addresses:
        try:
            addresses.append(str(parse_address(text)))
        except AddressError:
            addresses.append(text)
    return addresses


def _instance_id_problems(instance_id: str, field: str) -> list[str]:
    if not instance_id:
        return [f"{field}: required"]
    if len(instance_id) > _MAX_INSTANCE_ID or not _INSTANCE_ID.fullmatch(instance_id):
        return [
            f"{field}: {instance_id!r} is not a valid instance id (1 to {_MAX_INSTANCE_ID} "
            "printable ASCII characters, no spaces)"
        ]
    return []


def validate_register_instance(
    request: registry_pb2.RegisterInstanceRequest,
) -> InstanceRegistration:
    """Validates RegisterInstance, applying the defaults (instance id, 10s TTL)."""
    problems = tool_name_problems(request.tool, "tool")
    address = ""
    if not request.address:
        problems.append("address: required")
    else:
        address = canonical_address(request.address, "address", problems)
    instance_id = request.instance_id or address
    if request.instance_id or address:
        problems.extend(_instance_id_problems(instance_id, "instance_id"))
    ttl = DEFAULT_TTL
    if request.HasField("ttl"):
        ttl = _duration_seconds(request.ttl)
        if not MIN_TTL <= ttl <= MAX_TTL:
            problems.append(f"ttl: must be between {MIN_TTL:g}s and 1h (got {ttl:g}s)")
    _raise_if(problems)
    return InstanceRegistration(request.tool, instance_id, address, ttl)


def validate_instance_ref(tool: str, instance_id: str) -> InstanceRef:
    """Validates the (tool, instance_id) pair of Heartbeat and DeregisterInstance."""
    problems = tool_name_problems(tool, "tool") + _instance_id_problems(instance_id, "instance_id")
    _raise_if(problems)
    return InstanceRef(tool, instance_id)


def validate_set_policy(
    request: registry_pb2.SetPolicyRequest,
    *,
    unregistered: AbstractSet[str] = frozenset(),
    targets: PolicyTargets | None = None,
) -> policy_pb2.ToolPolicy | None:
    """Validates SetPolicy; returns the new policy, or None to clear it.

    `unregistered`: fallback tools of the policy that the store does not have. `targets`: the
    stored tool's methods and its fallbacks' (None when the tool is not registered: the store
    then refuses the request).
    """
    problems = tool_name_problems(request.tool, "tool")
    if request.HasField("policy"):
        problems.extend(
            policy_problems(
                request.policy,
                "policy",
                tool=request.tool,
                unregistered=unregistered,
                targets=targets,
            )
        )
    _raise_if(problems)
    return request.policy if request.HasField("policy") else None
