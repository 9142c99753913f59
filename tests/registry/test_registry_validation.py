"""Request validation: every refusal has the right status code, names the field, and changes
nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import policy_pb2, registry_pb2_grpc
from mesh.api.v1 import registry_pb2 as pb
from registry.errors import InvalidArgument
from registry.validation import (
    validate_register_instance,
    validate_remove_endpoints,
    validate_tool,
)
from tests.registry.registry_harness import ECHO_SERVICE, MATH_SERVICE, Registry, make_tool, seconds

DescriptorSet = descriptor_pb2.FileDescriptorSet
Stub = registry_pb2_grpc.RegistryStub


async def _refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value


async def _state(registry: Registry) -> pb.ListToolsResponse:
    listing: pb.ListToolsResponse = await registry.stub.ListTools(pb.ListToolsRequest())
    return listing


# -- pure validation ----------------------------------------------------------------------


def test_every_problem_of_a_tool_is_reported_at_once(echo: DescriptorSet) -> None:
    tool = make_tool("Bad Name", echo, endpoints=["127.0.0.1:1", "foo", "[::1]:99999"])
    with pytest.raises(InvalidArgument) as refused:
        validate_tool(tool)
    problems = refused.value.message.split("; ")
    assert problems == [
        "tool.name: 'Bad Name' is not a valid tool name (1 to 63 characters: lowercase letters, "
        "digits, '-', '_' and '.', starting with a letter or digit)",
        "tool.endpoints[1].address: address 'foo' has no port (expected HOST:PORT)",
        "tool.endpoints[2].address: address '[::1]:99999': port 99999 is out of range 1-65535",
    ]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("0tool", True),
        ("email-parser_v2.beta", True),
        ("x" * 63, True),
        ("x" * 64, False),
        ("-lead", False),
        (".lead", False),
        ("Upper", False),
        ("has space", False),
        ("slash/name", False),
    ],
)
def test_tool_name_rule(name: str, valid: bool, echo: DescriptorSet) -> None:
    tool = make_tool(name, echo)
    if valid:
        assert validate_tool(tool).tool.name == name
    else:
        with pytest.raises(InvalidArgument, match=r"^tool\.name: "):
            validate_tool(tool)


def test_validation_normalizes_without_touching_the_request(multi: DescriptorSet) -> None:
    tool = make_tool(
        "multi", multi, services=[MATH_SERVICE, MATH_SERVICE], endpoints=["unix:///s", "unix:/s"]
    )
    before = tool.SerializeToString(deterministic=True)
    definition = validate_tool(tool)
    assert tool.SerializeToString(deterministic=True) == before
    assert definition.services == (MATH_SERVICE,)
    assert [e.address for e in definition.tool.endpoints] == ["unix:/s"]
    assert not definition.replaces_policy


def test_instance_defaults_and_ttl_bounds() -> None:
    registration = validate_register_instance(
        pb.RegisterInstanceRequest(tool="t", address="localhost:80")
    )
    assert (registration.instance_id, registration.ttl) == ("localhost:80", 10.0)
    for ttl in (1, 3600):
        assert (
            validate_register_instance(
                pb.RegisterInstanceRequest(tool="t", address="h:1", ttl=seconds(ttl))
            ).ttl
            == ttl
        )
    for bad_ttl in (0.999, 3600.001, -5.0):
        with pytest.raises(InvalidArgument, match=r"^ttl: must be between 1s and 1h"):
            validate_register_instance(
                pb.RegisterInstanceRequest(tool="t", address="h:1", ttl=seconds(bad_ttl))
            )


def test_remove_endpoints_keeps_unparsable_addresses_as_written() -> None:
    request = pb.RemoveEndpointsRequest(tool="t", addresses=["unix:///a", "junk"])
    assert validate_remove_endpoints(request) == ["unix:/a", "junk"]


# -- through the API ----------------------------------------------------------------------

Case = Callable[[Stub, DescriptorSet, DescriptorSet], Awaitable[object]]

INVALID_CASES: list[tuple[str, Case, list[str]]] = [
    (
        "tool name",
        lambda s, echo, multi: s.RegisterTool(pb.RegisterToolRequest(tool=make_tool("", echo))),
        ["tool.name: required"],
    ),
    (
        "descriptors missing",
        lambda s, echo, multi: s.RegisterTool(pb.RegisterToolRequest(tool=pb.Tool(name="t"))),
        ["tool.descriptors: required"],
    ),
    (
        "descriptors with a missing import",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(
                tool=make_tool(
                    "t", DescriptorSet(file=[f for f in multi.file if f.name == "multi.proto"])
                )
            )
        ),
        ["tool.descriptors: file 'multi.proto' imports 'common.proto', which is not in the set"],
    ),
    (
        "descriptors without services",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(
                tool=make_tool(
                    "t", DescriptorSet(file=[f for f in multi.file if f.name == "common.proto"])
                )
            )
        ),
        ["tool.services: the descriptors define no service"],
    ),
    (
        "unknown service",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(
                tool=make_tool("t", echo, services=[ECHO_SERVICE, "no.such.Service"])
            )
        ),
        ["tool.services[1]: service 'no.such.Service' is not defined in the tool's descriptors"],
    ),
    (
        "tool endpoint address",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(tool=make_tool("t", echo, endpoints=["127.0.0.1:1", "foo"]))
        ),
        ["tool.endpoints[1].address: address 'foo' has no port (expected HOST:PORT)"],
    ),
    (
        "empty tool endpoint",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(tool=make_tool("t", echo, endpoints=[""]))
        ),
        ["tool.endpoints[0].address: address is empty"],
    ),
    (
        "tool policy timeout",
        lambda s, echo, multi: s.RegisterTool(
            pb.RegisterToolRequest(
                tool=make_tool("t", echo, policy=policy_pb2.ToolPolicy(timeout=seconds(-1)))
            )
        ),
        ["tool.policy.timeout must be > 0 (got -1s)"],
    ),
    (
        "add endpoints: none",
        lambda s, echo, multi: s.AddEndpoints(pb.AddEndpointsRequest(tool="t")),
        ["endpoints: at least one endpoint is required"],
    ),
    (
        "add endpoints: bad address",
        lambda s, echo, multi: s.AddEndpoints(
            pb.AddEndpointsRequest(tool="t", endpoints=[pb.Endpoint(address="h:port")])
        ),
        ["endpoints[0].address: address 'h:port': port 'port' is not a number"],
    ),
    (
        "remove endpoints: none",
        lambda s, echo, multi: s.RemoveEndpoints(pb.RemoveEndpointsRequest(tool="t")),
        ["addresses: at least one address is required"],
    ),
    (
        "instance address",
        lambda s, echo, multi: s.RegisterInstance(
            pb.RegisterInstanceRequest(tool="t", address="nohost")
        ),
        ["address: address 'nohost' has no port"],
    ),
    (
        "instance without address",
        lambda s, echo, multi: s.RegisterInstance(pb.RegisterInstanceRequest(tool="t")),
        ["address: required"],
    ),
    (
        "instance ttl too short",
        lambda s, echo, multi: s.RegisterInstance(
            pb.RegisterInstanceRequest(tool="t", address="h:1", ttl=seconds(0.5))
        ),
        ["ttl: must be between 1s and 1h (got 0.5s)"],
    ),
    (
        "instance ttl too long",
        lambda s, echo, multi: s.RegisterInstance(
            pb.RegisterInstanceRequest(tool="t", address="h:1", ttl=seconds(7200))
        ),
        ["ttl: must be between 1s and 1h (got 7200s)"],
    ),
    (
        "instance id",
        lambda s, echo, multi: s.RegisterInstance(
            pb.RegisterInstanceRequest(tool="t", address="h:1", instance_id="has space")
        ),
        ["instance_id: 'has space' is not a valid instance id"],
    ),
    (
        "heartbeat without instance id",
        lambda s, echo, multi: s.Heartbeat(pb.HeartbeatRequest(tool="t")),
        ["instance_id: required"],
    ),
    (
        "deregister instance without tool",
        lambda s, echo, multi: s.DeregisterInstance(pb.DeregisterInstanceRequest(instance_id="i")),
        ["tool: required"],
    ),
    (
        "set policy",
        lambda s, echo, multi: s.SetPolicy(
            pb.SetPolicyRequest(tool="t", policy=policy_pb2.ToolPolicy(timeout=seconds(0)))
        ),
        ["policy.timeout must be > 0 (got 0s)"],
    ),
    (
        "get tool name",
        lambda s, echo, multi: s.GetTool(pb.GetToolRequest(name="NO")),
        ["name: 'NO' is not a valid tool name"],
    ),
    (
        "deregister tool name",
        lambda s, echo, multi: s.DeregisterTool(pb.DeregisterToolRequest()),
        ["name: required"],
    ),
]


@pytest.mark.parametrize(
    ("label", "call", "expected"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES]
)
async def test_invalid_requests_are_refused_naming_the_field(
    registry: Registry,
    echo: DescriptorSet,
    multi: DescriptorSet,
    label: str,
    call: Case,
    expected: list[str],
) -> None:
    before = await _state(registry)
    error = await _refused(call(registry.stub, echo, multi))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, label
    for fragment in expected:
        assert fragment in (error.details() or ""), error.details()
    assert await _state(registry) == before


NOT_FOUND_CASES: list[tuple[str, Case]] = [
    ("deregister tool", lambda s, e, m: s.DeregisterTool(pb.DeregisterToolRequest(name="ghost"))),
    ("get tool", lambda s, e, m: s.GetTool(pb.GetToolRequest(name="ghost"))),
    (
        "add endpoints",
        lambda s, e, m: s.AddEndpoints(
            pb.AddEndpointsRequest(tool="ghost", endpoints=[pb.Endpoint(address="h:1")])
        ),
    ),
    (
        "remove endpoints",
        lambda s, e, m: s.RemoveEndpoints(
            pb.RemoveEndpointsRequest(tool="ghost", addresses=["h:1"])
        ),
    ),
    (
        "register instance",
        lambda s, e, m: s.RegisterInstance(pb.RegisterInstanceRequest(tool="ghost", address="h:1")),
    ),
    ("heartbeat", lambda s, e, m: s.Heartbeat(pb.HeartbeatRequest(tool="ghost", instance_id="i"))),
    (
        "deregister instance",
        lambda s, e, m: s.DeregisterInstance(
            pb.DeregisterInstanceRequest(tool="ghost", instance_id="i")
        ),
    ),
    ("set policy", lambda s, e, m: s.SetPolicy(pb.SetPolicyRequest(tool="ghost"))),
]


@pytest.mark.parametrize(("label", "call"), NOT_FOUND_CASES, ids=[c[0] for c in NOT_FOUND_CASES])
async def test_unknown_tool_is_not_found(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet, label: str, call: Case
) -> None:
    before = await _state(registry)
    error = await _refused(call(registry.stub, echo, multi))
    assert error.code() == grpc.StatusCode.NOT_FOUND, label
    assert "tool 'ghost' is not registered" in (error.details() or "")
    assert await _state(registry) == before


async def test_unknown_instance_is_not_found(registry: Registry, echo: DescriptorSet) -> None:
    await registry.stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo", echo)))
    for call in (
        registry.stub.Heartbeat(pb.HeartbeatRequest(tool="echo", instance_id="pod-1")),
        registry.stub.DeregisterInstance(
            pb.DeregisterInstanceRequest(tool="echo", instance_id="pod-1")
        ),
    ):
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "instance 'pod-1' of tool 'echo'" in (error.details() or "")


async def test_a_service_belongs_to_one_tool(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    stub = registry.stub
    await stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo", echo)))
    await stub.RegisterTool(
        pb.RegisterToolRequest(tool=make_tool("math", multi, services=[MATH_SERVICE]))
    )
    before = await _state(registry)

    error = await _refused(stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo2", echo))))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error.details() == (
        f"tool.services: service {ECHO_SERVICE!r} is already served by tool 'echo'"
    )

    error = await _refused(stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo", multi))))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"service {MATH_SERVICE!r} is already served by tool 'math'" in (error.details() or "")

    assert await _state(registry) == before  # neither refusal changed anything


def test_a_tool_cannot_claim_a_service_every_sidecar_serves() -> None:
    from grpc_health.v1 import health_pb2

    files = descriptor_pb2.FileDescriptorSet()
    health_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    with pytest.raises(InvalidArgument) as refused:
        validate_tool(make_tool("sneaky", files, endpoints=["127.0.0.1:1"]))
    assert refused.value.message == (
        "tool.descriptors: service grpc.health.v1.Health is served by every sidecar itself; "
        "a tool cannot claim it (list the tool's own services in tool.services)"
    )


def test_a_cost_needs_a_non_negative_amount_and_a_unit(echo: DescriptorSet) -> None:
    tool = make_tool("priced", echo, endpoints=["127.0.0.1:1"])
    tool.cost.amount = -1
    tool.cost.unit = "US dollars"
    with pytest.raises(InvalidArgument) as refused:
        validate_tool(tool)
    assert refused.value.message.split("; ") == [
        "tool.cost.amount must be a number >= 0 (got -1.0)",
        "tool.cost.unit 'US dollars' is not a unit (1 to 32 letters, digits, '_' or '-',"
        " e.g. USD or tokens)",
    ]
    tool.cost.amount, tool.cost.unit = 0.002, "USD"
    assert validate_tool(tool).tool.cost.unit == "USD"
