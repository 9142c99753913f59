"""Tools and static endpoints through the public Registry API."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.api.v1 import policy_pb2
from mesh.api.v1 import registry_pb2 as pb
from tests.registry.registry_harness import (
    ECHO_SERVICE,
    MATH_SERVICE,
    TEXT_SERVICE,
    Registry,
    make_tool,
    seconds,
)

DescriptorSet = descriptor_pb2.FileDescriptorSet


async def test_register_get_list_deregister(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    stub = registry.stub
    created = await stub.RegisterTool(
        pb.RegisterToolRequest(
            tool=make_tool(
                "echo",
                echo,
                endpoints=["127.0.0.1:9001"],
                version="1.0",
                description="says things back",
                annotations={"idempotent": "true"},
            )
        )
    )
    assert created.created
    assert created.version == 1
    assert created.state.tool.revision == 1
    assert list(created.state.tool.services) == [ECHO_SERVICE]  # the default, made explicit
    assert [e.address for e in created.state.tool.endpoints] == ["127.0.0.1:9001"]

    second = await stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("multi", multi)))
    assert second.version == 2
    assert list(second.state.tool.services) == [MATH_SERVICE, TEXT_SERVICE]

    got = await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert got.state.tool.description == "says things back"
    assert dict(got.state.tool.annotations) == {"idempotent": "true"}
    assert got.state.tool.descriptors == echo

    listing = await stub.ListTools(pb.ListToolsRequest())
    assert [state.tool.name for state in listing.tools] == ["echo", "multi"]
    assert listing.version == 2

    gone = await stub.DeregisterTool(pb.DeregisterToolRequest(name="echo"))
    assert gone.version == 3
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'echo'" in (missing.value.details() or "")
    listing = await stub.ListTools(pb.ListToolsRequest())
    assert [state.tool.name for state in listing.tools] == ["multi"]
    assert listing.version == 3


async def test_update_replaces_definition_and_keeps_instances_and_policy(
    registry: Registry, multi: DescriptorSet
) -> None:
    stub = registry.stub
    policy = policy_pb2.ToolPolicy(timeout=seconds(2))
    await stub.RegisterTool(
        pb.RegisterToolRequest(
            tool=make_tool("multi", multi, endpoints=["10.0.0.1:1"], version="1", policy=policy)
        )
    )
    await stub.RegisterInstance(
        pb.RegisterInstanceRequest(tool="multi", address="127.0.0.1:5000", ttl=seconds(600))
    )

    updated = await stub.RegisterTool(
        pb.RegisterToolRequest(
            tool=make_tool(
                "multi", multi, services=[TEXT_SERVICE], endpoints=["10.0.0.2:2"], version="2"
            )
        )
    )
    assert not updated.created
    assert updated.version == 3
    tool = updated.state.tool
    assert tool.version == "2"
    assert list(tool.services) == [TEXT_SERVICE]
    assert [e.address for e in tool.endpoints] == ["10.0.0.2:2"]
    assert tool.policy == policy  # kept: the request carried none
    assert [i.address for i in updated.state.instances] == ["127.0.0.1:5000"]

    # Math was released by the update, so another tool may now serve it.
    other = await stub.RegisterTool(
        pb.RegisterToolRequest(tool=make_tool("math", multi, services=[MATH_SERVICE]))
    )
    assert other.created

    new_policy = policy_pb2.ToolPolicy(timeout=seconds(5))
    replaced = await stub.RegisterTool(
        pb.RegisterToolRequest(
            tool=make_tool("multi", multi, services=[TEXT_SERVICE], policy=new_policy)
        )
    )
    assert replaced.state.tool.policy == new_policy


async def test_set_policy_replaces_and_clears(registry: Registry, echo: DescriptorSet) -> None:
    stub = registry.stub
    await stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo", echo)))
    policy = policy_pb2.ToolPolicy(timeout=seconds(1.5))
    set_response = await stub.SetPolicy(pb.SetPolicyRequest(tool="echo", policy=policy))
    assert set_response.version == 2
    got = await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert got.state.tool.policy == policy
    assert got.state.tool.revision == 2

    cleared = await stub.SetPolicy(pb.SetPolicyRequest(tool="echo"))
    assert cleared.version == 3
    got = await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert not got.state.tool.HasField("policy")


async def test_add_and_remove_endpoints(registry: Registry, echo: DescriptorSet) -> None:
    stub = registry.stub
    await stub.RegisterTool(
        pb.RegisterToolRequest(tool=make_tool("echo", echo, endpoints=["127.0.0.1:1"]))
    )

    added = await stub.AddEndpoints(
        pb.AddEndpointsRequest(
            tool="echo",
            endpoints=[
                pb.Endpoint(address="127.0.0.1:1"),  # already there: left as is
                pb.Endpoint(address="[::1]:2"),
                pb.Endpoint(address="unix:///tmp/echo.sock"),  # stored in canonical form
                pb.Endpoint(address="[::1]:2"),  # duplicate within the request
            ],
        )
    )
    assert added.version == 2
    assert [e.address for e in added.state.tool.endpoints] == [
        "127.0.0.1:1",
        "[::1]:2",
        "unix:/tmp/echo.sock",
    ]

    unchanged = await stub.AddEndpoints(
        pb.AddEndpointsRequest(tool="echo", endpoints=[pb.Endpoint(address="[::1]:2")])
    )
    assert unchanged.version == 2  # nothing added: no new version

    removed = await stub.RemoveEndpoints(
        pb.RemoveEndpointsRequest(
            tool="echo", addresses=["127.0.0.1:1", "unix:/tmp/echo.sock", "nowhere:9"]
        )
    )
    assert removed.version == 3
    assert [e.address for e in removed.state.tool.endpoints] == ["[::1]:2"]

    nothing = await stub.RemoveEndpoints(
        pb.RemoveEndpointsRequest(tool="echo", addresses=["nowhere:9", "junk"])
    )
    assert nothing.version == 3
    listing = await stub.ListTools(pb.ListToolsRequest())
    assert listing.version == 3


async def test_registry_fields_set_by_clients_are_ignored(
    registry: Registry, echo: DescriptorSet
) -> None:
    tool = make_tool("echo", echo, revision=77)
    tool.endpoints.add(address="127.0.0.1:3", instance_id="forged")
    response = await registry.stub.RegisterTool(pb.RegisterToolRequest(tool=tool))
    assert response.state.tool.revision == 1
    assert response.state.tool.endpoints[0] == pb.Endpoint(address="127.0.0.1:3")


async def test_health_service_reports_serving(registry: Registry) -> None:
    health = health_pb2_grpc.HealthStub(registry.channel)
    for service in ("", "toolmesh.v1.Registry"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_large_descriptor_sets_are_accepted(registry: Registry, echo: DescriptorSet) -> None:
    # Above grpcio's default 4 MiB receive limit; the registry allows 64 MiB.
    tool = make_tool("echo", echo, description="x" * (6 * 1024 * 1024))
    response = await registry.stub.RegisterTool(pb.RegisterToolRequest(tool=tool), timeout=10)
    assert response.created
